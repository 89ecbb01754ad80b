"""Table-driven reasoning styles: positives and negatives per style with the signals each must fire.

Covers bare rationales (no answer marker), <think> traces, reasoning_content fields and multi-turn
conversations, plus the hand-written fixtures of realistic non-reasoning outputs (code, recipes, role-play).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curation.cot import detector as cot

FIXTURES = Path(__file__).parent / "fixtures"

# (style, instruction, output, reasoning_content, is CoT, signals that must fire)
STYLES = [
    (
        "worked arithmetic, no marker",
        "A bakery sells 20 muffins in the morning and twice as many in the afternoon. How many in total?",
        "First, the afternoon sales are 2 times 20, which is 40 muffins. Then we add the morning sales: "
        "20 + 40 = 60. Therefore it sells 60 muffins.",
        "",
        True,
        {"conclusion_sentence"},
    ),
    (
        "algebra",
        "John's father is three times as old as John. In 10 years he will be twice as old. How old is John?",
        "Let John's age be x, so his father is 3x. In 10 years, John will be x + 10 and his father 3x + 10. "
        "We need 3x + 10 = 2(x + 10). Expanding gives 3x + 10 = 2x + 20, so x = 10. John is 10 years old.",
        "",
        True,
        {"arithmetic_chain", "inference_chain"},
    ),
    (
        "multiple-choice elimination",
        "Which of these is a mammal? (A) shark (B) dolphin (C) trout (D) octopus",
        "A shark and a trout are fish, so (A) and (C) are out. An octopus is a mollusc, which rules out (D). "
        "Dolphins breathe air and feed their young milk, which makes them mammals. The correct choice is (B).",
        "",
        True,
        {"problem_reference", "inference_chain"},
    ),
    (
        "state tracking",
        "Alice has a red ball and Bob a blue one. They swap, then Bob gives his ball to Carol. What does Carol have?",
        "At the start, Alice has red and Bob has blue. After the swap, Alice has blue and Bob has red. Then Bob "
        "gives his ball to Carol, so Carol now holds the red ball.",
        "",
        True,
        {"state_tracking"},
    ),
    (
        "enumerated logic (BBH style, bare)",
        "Rashida lies. Fletcher says Rashida lies. Antwan says Fletcher lies. Does Antwan tell the truth?",
        "(1) Rashida lies. So, we know that Rashida lies.\n(2) Fletcher says Rashida lies. Since we know from (1) "
        "that Rashida lies, Fletcher tells the truth.\n(3) Antwan says Fletcher lies. Since we know from (2) that "
        "Fletcher tells the truth, Antwan lies.",
        "",
        True,
        {"enumerated_derivation", "back_reference", "we_reasoning"},
    ),
    (
        "explanation before a verdict",
        "Is the following sentence plausible? 'The goalkeeper scored a touchdown in the penalty box.'",
        "A goalkeeper and a penalty box belong to soccer, but a touchdown is scored in American football. Since "
        "the sentence mixes terms from two different sports, it is not plausible.",
        "",
        True,
        {"verdict_after_reasoning", "explains_closed_question"},
    ),
    (
        "<think> trace",
        "How many r's are in the word strawberry?",
        "<think>\nLet me spell it out: s-t-r-a-w-b-e-r-r-y. The r's are at positions 3, 8 and 9.\n</think>\n\n"
        "There are 3 r's.",
        "",
        True,
        {"reasoning_trace"},
    ),
    (
        "reasoning_content field",
        "What is 17 * 3?",
        "51",
        "17 * 3 is 10 * 3 + 7 * 3 = 30 + 21 = 51.",
        True,
        {"reasoning_trace", "arithmetic_chain"},
    ),
    (
        "bare rationale for a yes/no question (FLAN style, no answer sentence)",
        "Could a goldfish survive in the Dead Sea?",
        "The Dead Sea is about ten times saltier than the ocean. Goldfish are freshwater fish and cannot tolerate "
        "high salinity.",
        "",
        True,
        {"explains_closed_question"},
    ),
    pytest.param(
        "premises chained to a conclusion",
        "What do bees need to make honey?",
        "Bees make honey from nectar. Nectar is a sugary liquid produced by flowers. Bees need flowers to make honey.",
        "",
        True,
        {"restates_question"},
        marks=pytest.mark.xfail(
            strict=True, reason="learned weights (bench/cot_learn.py) decide otherwise: a known miss"
        ),
    ),
    (
        "which-one question answered by an explanation",
        "Which sentence goes against common sense? Sentence A: 'He put the milk in the fridge.' Sentence B: 'He put "
        "the elephant in the fridge.'",
        "An elephant is far too large to fit inside a fridge.",
        "",
        True,
        {"explains_closed_question"},
    ),
    (
        "algebra steps for a solve task",
        "Solve 2x + 7 = 19.",
        "Subtract 7 from both sides: 2x = 12. Divide both sides by 2: x = 6.",
        "",
        True,
        {"symbolic_equations"},
    ),
    (
        "inline options, elimination, bare answer",
        "Where would you most likely find a stapler? Options: office, forest, ocean, desert",
        "A stapler is a tool for fastening paper. Forests, oceans and deserts have no paperwork to fasten. Offices "
        "are full of documents, so that is where a stapler is kept. Office.",
        "",
        True,
        {"answer_from_options", "short_final_answer"},
    ),
    (
        "commonsense justification: linked premises, no answer stated (ECQA style)",
        "Where would you keep milk so that it stays fresh for a week?",
        "Milk spoils quickly at room temperature. Cold temperatures slow the growth of the bacteria that spoil it. "
        "A refrigerator keeps food cold.",
        "",
        True,
        {"linked_premises"},
    ),
    (
        "science justification towards a fill-in question (QASC style)",
        "Plants lose water mostly through their:",
        "Transpiration is the loss of water vapour from a plant. Most transpiration happens through small pores. "
        "Those pores, called stomata, sit on the underside of leaves.",
        "",
        True,
        {"linked_premises"},
    ),
    (
        "terse arithmetic on the problem's numbers (AQuA style)",
        "A tank holds 240 litres and a pump empties it at 8 litres per minute. How long does emptying take?",
        "T = 240/8 = 30 minutes",
        "",
        True,
        {"computes_from_givens"},
    ),
    (
        "answer-first explanation restating the question (Alpaca style)",
        "How does friction help us walk?",
        "Friction helps us walk by pushing back against our feet. This force stops our shoes from slipping, so "
        "each step moves us forward.",
        "",
        False,
        set(),
    ),
    (
        "definition request answered with linked sentences",
        "What is the definition of a euphemism?",
        "A euphemism is a mild expression used in place of a harsh one. Such an expression softens unpleasant "
        "topics in polite conversation.",
        "",
        False,
        set(),
    ),
    (
        "the prompt's own expression evaluated (no worked problem)",
        "Evaluate the expression 5 + (4 x 10) and give the result.",
        "5 + (4 x 10) = 45.",
        "",
        False,
        set(),
    ),
    (
        "how-to advice answering a question",
        "How long should I boil an egg for a soft yolk?",
        "Bring the water to a rolling boil, lower the egg in gently and cook it for 6 to 7 minutes. Then move the "
        "egg to ice water so it stops cooking.",
        "",
        False,
        set(),
    ),
    ("empty <think> block (non-thinking mode)", "Say hi.", "<think>\n\n</think>\n\nHi there!", "", False, set()),
    (
        "code",
        "Write a Python function that returns the factorial of n.",
        "```python\ndef factorial(n):\n    if n < 2:\n        return 1\n    return n * factorial(n - 1)\n```",
        "",
        False,
        {"code"},
    ),
    (
        "recipe steps",
        "How do I make a simple tomato sauce?",
        "1. Heat the olive oil in a saucepan.\n2. Add the chopped onion and cook until soft.\n3. Stir in the "
        "garlic.\n4. Pour in the tomatoes and simmer for 20 minutes.",
        "",
        False,
        {"how_to_steps"},
    ),
    (
        "dialogue",
        "Write a dialogue between a barista and a customer.",
        "Barista: Good morning! What can I get you?\nCustomer: Coffee. Big.\nBarista: Rough night?\n"
        "Customer: So it seems, since the dog barked until 3 a.m.\nBarista: Then a double espresso.",
        "",
        False,
        {"dialogue"},
    ),
    (
        "persuasive essay",
        "Write a persuasive paragraph about recycling.",
        "Recycling saves resources because materials are reused. It reduces landfill waste since less is thrown "
        "away. Therefore, every household should make recycling a daily habit.",
        "",
        False,
        {"writing_task"},
    ),
    # Held-out styles (tests/cot/fixtures/heldout_*.jsonl); each of these scored below the threshold before.
    (
        "MATH-style LaTeX derivation ending in \\boxed{}",
        "Compute $\\dbinom{8}{3}$.",
        "$$\\binom{8}{3} = \\frac{8!}{3!\\,5!} = \\frac{8 \\times 7 \\times 6}{3 \\times 2 \\times 1} = "
        "\\frac{336}{6} = \\boxed{56}.$$",
        "",
        True,
        {"answer_marker"},
    ),
    (
        "R1-style self-correction without <think> tags",
        "Write the number of vowels in 'onomatopoeia'.",
        "Let me count them one by one: o, o, a, o, e, i, a. Wait, I skipped one: o-n-o-m-a-t-o-p-o-e-i-a has o, o, "
        "a, o, o, e, i, a. That's 8 vowels.",
        "",
        True,
        {"self_check"},
    ),
    (
        "code tracing",
        "What does `len('hello world'.split())` evaluate to?",
        "'hello world'.split() splits on whitespace and gives ['hello', 'world']. That list has two elements, so "
        "len(...) evaluates to 2.",
        "",
        True,
        {"code_trace", "verdict_after_reasoning"},
    ),
    (
        "'Can you ...?' that is a closed question, not a request",
        "Can you fit a grand piano in a typical elevator?",
        "A grand piano is about 1.5 m wide and up to 2.7 m long, while a typical passenger elevator is around 1.1 m "
        "by 1.4 m. Even tilted on its side the piano is longer than the car is deep, so it would not fit.",
        "",
        True,
        {"explains_closed_question"},
    ),
    (
        "syllogism: the closed question follows the premises",
        "All bloops are razzies and all razzies are lazzies. Are all bloops definitely lazzies?",
        "Every bloop is a razzie. Every razzie is a lazzie. Since each bloop belongs to the razzies, and all razzies "
        "are lazzies, every bloop is a lazzie. The conclusion holds.",
        "",
        True,
        {"explains_closed_question"},
    ),
    (
        "ordering puzzle by elimination",
        "Three friends finished a race. Mia was not first. Leo finished right after Mia. Who won?",
        "If Mia was not first and Leo came right after her, Leo cannot be first either. The only friend left is "
        "Zoe, so Zoe must have won. That puts Mia second and Leo third.",
        "",
        True,
        {"conditional_inference", "problem_reference"},
    ),
    (
        "arithmetic on numbers the question spells out in words",
        "If an octopus has three hearts, how many hearts do 7 octopuses have?",
        "Each octopus has 3 hearts, so 7 octopuses have 7 × 3 = 21 hearts in total.",
        "",
        True,
        {"computes_from_givens"},
    ),
    (
        "an experiment design that names 'this claim' and 'the claim' (no options weighed)",
        "Design an experiment to test the claim that music helps plants grow.",
        "One way to test this claim is to grow two groups of identical seedlings. One group hears music for three "
        "hours a day and the other grows in silence. Measure their height every week. If the music group grows "
        "taller, the results support the claim.",
        "",
        False,
        set(),
    ),
    (
        "an idiom example with 'if ..., it would be best'",
        "Give an example of the idiom 'Let sleeping dogs lie'.",
        "Suppose an old argument with a neighbour has finally been forgotten. If you bring it up again, it would "
        "start the quarrel over, so it is best to let sleeping dogs lie.",
        "",
        False,
        set(),
    ),
]


@pytest.mark.parametrize(("style", "instruction", "output", "reasoning", "is_cot", "signals"), STYLES)
def test_reasoning_styles(
    style: str, instruction: str, output: str, reasoning: str, is_cot: bool, signals: set
) -> None:
    found = cot.detect(instruction, "", output, reasoning)
    assert (found.score >= cot.DEFAULT_THRESHOLD) is is_cot, (style, found)
    assert signals <= set(found.names()), (style, found)


def test_multi_turn_conversation_is_scored_on_its_best_assistant_turn() -> None:
    turns = [
        {"role": "user", "content": "Hi! Can you help me with maths?"},
        {"role": "assistant", "content": "Of course, what is the problem?"},
        {"role": "user", "content": "Sam buys 3 notebooks at $4 each and pays with $20. What is his change?"},
        {
            "role": "assistant",
            "content": "The notebooks cost 3 × 4 = 12 dollars. He pays 20 dollars, so his "
            "change is 20 − 12 = 8 dollars. The answer is 8.",
        },
    ]
    first_turn_only = cot.detect_row(turns[0]["content"], "", turns[1]["content"])
    assert first_turn_only.score < cot.DEFAULT_THRESHOLD
    found = cot.detect_row(turns[0]["content"], "", turns[1]["content"], messages=json.dumps(turns))
    assert found.score >= cot.DEFAULT_THRESHOLD and "answer_marker" in found.names()
    with_trace = [turns[0], {"role": "assistant", "content": "8", "reasoning_content": turns[3]["content"]}]
    assert "reasoning_trace" in cot.detect_conversation(with_trace).names()


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").split("\n") if line.strip()]


@pytest.mark.parametrize("row", _jsonl("non_reasoning.jsonl"), ids=lambda r: r["kind"] + ":" + r["instruction"][:30])
def test_realistic_non_reasoning_outputs_are_not_cot(row: dict, request: pytest.FixtureRequest) -> None:
    if row["instruction"].startswith("How do I convert Celsius to Fahrenheit"):
        reason = "learned weights (bench/cot_learn.py) call this worked conversion reasoning: a known miss"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    found = cot.detect(row["instruction"], "", row["output"])
    assert found.score < cot.DEFAULT_THRESHOLD, found


def test_hand_written_reasoning_fixture_recall() -> None:
    rows = _jsonl("reasoning.jsonl")
    hits = [cot.detect(r["instruction"], "", r["output"]).score >= cot.DEFAULT_THRESHOLD for r in rows]
    # Measured 23 of 24 (the old detector: 7); the bench prints the figure. A drop below 21 is a regression.
    assert sum(hits) >= 21, [r["style"] for r, h in zip(rows, hits, strict=True) if not h]


@pytest.mark.parametrize(
    "row", _jsonl("heldout_non_reasoning.jsonl"), ids=lambda r: r["kind"] + ":" + r["instruction"][:30]
)
def test_held_out_non_reasoning_outputs_are_not_cot(row: dict) -> None:
    found = cot.detect_row(row["instruction"], "", row["output"], row.get("messages"))
    assert found.score < cot.DEFAULT_THRESHOLD, found


def test_held_out_reasoning_recall() -> None:
    rows = _jsonl("heldout_reasoning.jsonl")
    hits = [
        cot.detect_row(r["instruction"], "", r["output"], r.get("messages")).score >= cot.DEFAULT_THRESHOLD
        for r in rows
    ]
    # Measured 39 of 41 (before the self-check, code-trace, \boxed{} and closed-question rules: 30). Below 37 is a
    # regression; the two known misses are "why" explanations without an inference step.
    assert sum(hits) >= 37, [r["style"] for r, h in zip(rows, hits, strict=True) if not h]


def test_blind_set_figures_do_not_regress() -> None:
    """The blind set was written after the rules were tuned and never tuned on: its measured figures are a floor."""
    found = {
        name: [
            cot.detect_row(r["instruction"], "", r["output"]).score >= cot.DEFAULT_THRESHOLD
            for r in _jsonl(f"blind_{name}.jsonl")
        ]
        for name in ("reasoning", "non_reasoning")
    }
    # Measured 18 of 20 detected (misses: a string-slicing trace, an older/younger ordering) and 2 of 20 negatives
    # flagged (a tides explanation, a rent-or-buy opinion).
    assert sum(found["reasoning"]) >= 18 and sum(found["non_reasoning"]) <= 2, found
