"""Self-Instruct: prompt construction, list parsing, every filter with its drop reason, output-first, the job."""

from __future__ import annotations

import json
import random
import time

import pytest

from curation.filters import ExampleFilter
from curation.generate import selfinstruct as si
from curation.generate.llm import Completion, FakeLLM
from curation.generate.selfinstruct_job import generation_job
from curation.io import importers
from curation.jobs import JobRunner
from curation.store import examples, jobs_table, revisions
from curation.store import templates as drops_table

SEEDS = [
    "Give three tips for staying healthy.",
    "Translate the sentence into French.",
    "Write a haiku about autumn leaves.",
    "Classify the sentiment of the tweet as positive or negative.",
    "Explain the rules of tennis to a beginner.",
    "Suggest a name for a new coffee shop.",
    "Summarize the paragraph in one sentence.",
    "List five animals that live in the desert.",
    "Convert the recipe quantities from cups to grams.",
    "Describe your ideal weekend in detail.",
]


def _seed_file(instructions: list[str]) -> bytes:
    lines = [
        json.dumps(
            {
                "id": f"seed_task_{i}",
                "name": f"t{i}",
                "instruction": text,
                "is_classification": False,
                "instances": [{"input": "", "output": f"answer {i}"}],
            }
        )
        for i, text in enumerate(instructions)
    ]
    return "\n".join(lines).encode()


@pytest.fixture
def seeded(store):
    importers.import_bytes(store, _seed_file(SEEDS), "seed_tasks.jsonl", "selfinstruct-seed")
    return store


def _pool(n_seed: int, n_machine: int) -> si.Pool:
    return si.Pool(
        [si.PoolTask(i, f"seed task {i}", "seed") for i in range(n_seed)],
        [si.PoolTask(100 + i, f"machine task {i}", "machine") for i in range(n_machine)],
    )


# -- prompt construction ---------------------------------------------------------------------------
def test_prompt_samples_six_seeds_and_two_machine_tasks() -> None:
    cfg = si.GenerationConfig()
    for seed in range(20):
        chosen = si.sample_prompt_tasks(_pool(20, 5), random.Random(seed), cfg)
        kinds = [t.kind for t in chosen]
        assert len(chosen) == 8 and kinds.count("seed") == 6 and kinds.count("machine") == 2
        assert len({t.example_id for t in chosen}) == 8


def test_prompt_uses_eight_seeds_when_machine_pool_is_empty() -> None:
    chosen = si.sample_prompt_tasks(_pool(20, 0), random.Random(0), si.GenerationConfig())
    assert [t.kind for t in chosen] == ["seed"] * 8
    one = si.sample_prompt_tasks(_pool(20, 1), random.Random(0), si.GenerationConfig())
    assert [t.kind for t in one].count("seed") == 7


def test_prompt_is_a_numbered_list_ending_with_the_next_number() -> None:
    tasks = [si.PoolTask(1, "Write  a\npoem:", "seed"), si.PoolTask(2, "List fruits.", "machine")]
    assert si.instruction_prompt(tasks) == "Come up with a series of tasks:\n1. Write a poem\n2. List fruits.\n3."
    assert si.list_stops(si.GenerationConfig(item_limit=15)) == ["\n\n", "\n16.", "\n16 ."]


# -- parsing ---------------------------------------------------------------------------------------
def test_parse_continued_list_stops_at_blank_line() -> None:
    text = " Write a story about a dragon.\n10. Name three rivers\nin Europe.\n11. Explain 3. the term\n\n12. Not this."
    assert si.parse_task_list(text, 9, 15) == [
        "Write a story about a dragon.",
        "Name three rivers in Europe.",
        "Explain 3. the term",
    ]


def test_parse_continued_list_stops_at_item_limit() -> None:
    assert si.parse_task_list(" A one.\n10. B two.\n11. C three.", 9, 10) == ["A one.", "B two."]
    assert si.parse_task_list("   \n", 9, 15) == []
    assert si.parse_task_list("9. Repeat the number.\n10. Then go on.", 9, 15) == ["Repeat the number.", "Then go on."]


# -- instruction filters ---------------------------------------------------------------------------
LONG = " ".join(["word"] * 150)


@pytest.mark.parametrize(
    ("text", "reason", "variant"),
    [
        ("Name four big cities.", None, "selfinstruct"),
        ("Say hi now.", "too_short", "selfinstruct"),
        (LONG, None, "selfinstruct"),
        (LONG + " more", "too_long", "selfinstruct"),
        ("Draw a cat for my daughter.", "blacklist", "selfinstruct"),
        ("Describe what a drawer is for.", None, "selfinstruct"),
        ("Tell me how to go to the train station.", "blacklist", "selfinstruct"),
        ("Summarize the attached FILES in a sentence.", "blacklist", "selfinstruct"),
        ("Compose music for a short film.", None, "selfinstruct"),
        ("Compose music for a short film.", "blacklist", "alpaca"),
        ("Write a program that reverses a string.", "write_a_program", "selfinstruct"),
        ("Write a poem that reverses expectations.", None, "selfinstruct"),
        ("- List three kinds of fruit.", "starts_with_punctuation", "selfinstruct"),
        ("Élaborez une liste de trois fruits.", "starts_with_non_ascii", "selfinstruct"),
    ],
)
def test_instruction_filters(text: str, reason: str | None, variant: str) -> None:
    cfg = si.GenerationConfig(blacklist=si.BLACKLISTS[variant])
    result = si.instruction_drop_reason(text, cfg)
    assert (result[0] if result else None) == reason


@pytest.mark.parametrize(
    ("pairs", "kept", "dropped"),
    [
        ([("2 + 2", "4")], [("2 + 2", "4")], []),
        ([("x", "")], [], [(("x", ""), "empty_output")]),
        ([("same", "same")], [], [(("same", "same"), "input_equals_output")]),
        ([("Sentence:", "ok")], [], [(("Sentence:", "ok"), "ends_with_colon")]),
        ([("in", "Output:")], [], [(("in", "Output:"), "ends_with_colon")]),
        (  # as the original: one conflict drops every instance of the task
            [("q", "a"), ("q", "b"), ("r", "c")],
            [],
            [
                (("q", "a"), "conflicting_outputs"),
                (("q", "b"), "conflicting_outputs"),
                (("r", "c"), "conflicting_outputs"),
            ],
        ),
        # invalid pairs leave before the conflict check (failed on the old code: it kept nothing)
        ([("x", ""), ("x", "y")], [("x", "y")], [(("x", ""), "empty_output")]),
        ([("x", "x"), ("x", "y")], [("x", "y")], [(("x", "x"), "input_equals_output")]),
        ([("q", "a"), ("q", "a")], [("q", "a")], [(("q", "a"), "duplicate_instance")]),
        ([("", "a"), ("", "b")], [("", "a"), ("", "b")], []),
        (
            [(str(i), f"o{i}") for i in range(7)],
            [(str(i), f"o{i}") for i in range(5)],
            [(("5", "o5"), "too_many_instances"), (("6", "o6"), "too_many_instances")],
        ),
    ],
)
def test_instance_filters(pairs, kept, dropped) -> None:
    assert si.filter_instances(pairs, 5) == (kept, dropped)


def test_instances_beyond_the_limit_are_a_random_five_as_the_original() -> None:
    pairs = [(str(i), f"o{i}") for i in range(9)]
    kept, dropped = si.filter_instances(pairs, 5, random.Random(3))
    expected = sorted(random.Random(3).sample(range(9), 5))
    assert kept == [pairs[i] for i in expected] and kept != pairs[:5]
    assert [p for p, _ in dropped] == [pairs[i] for i in range(9) if i not in expected]


@pytest.mark.parametrize(
    ("continuation", "items"),
    [
        # a repeated number: the old parser merged "10. B" into A's text
        (" A task here.\n10. B task here.\n10. C task here.", ["A task here.", "B task here.", "C task here."]),
        # a skipped number: the old parser merged "12. C" into B
        (" A task here.\n10. B task here.\n12. C task here.", ["A task here.", "B task here.", "C task here."]),
        (" A task.\n10 . B task.", ["A task.", "B task."]),
        (" Multi\nline task.\n10. B.", ["Multi line task.", "B."]),
    ],
)
def test_parse_task_list_splits_on_any_number(continuation: str, items: list[str]) -> None:
    assert si.parse_task_list(continuation, 9, 15) == items


def test_capitalisation_as_the_original() -> None:
    cfg = si.GenerationConfig()
    text = si.normalise_instruction("write a program that sorts a list of numbers.", cfg)
    assert text == "Write a program that sorts a list of numbers."
    assert si.instruction_drop_reason(text, cfg)[0] == "write_a_program"
    keep_case = si.GenerationConfig(capitalize=False)
    assert si.normalise_instruction("name the NASA missions.", keep_case) == "name the NASA missions."
    assert si.instruction_drop_reason("write a program that sorts numbers.", keep_case)[0] == "write_a_program"


def test_parse_instances_both_orders() -> None:
    text = "\nInput: 3 apples\nOutput: three apples\nExample 2\nInput: 10 pens\nOutput: ten pens\nInput: stray"
    assert si.parse_input_first(text) == [("3 apples", "three apples"), ("10 pens", "ten pens")]
    assert si.parse_input_first("\nOutput: Just an answer.") == [("", "Just an answer.")]
    text = " positive\nReview: Great!\nClass label: negative\nReview: Awful."
    assert si.parse_output_first(text) == [("Review: Great!", "positive"), ("Review: Awful.", "negative")]
    assert si.parse_yes_no(" Yes") is True and si.parse_yes_no("no.") is False and si.parse_yes_no("?") is None
    assert si.output_first_prompt("Is the number even?").endswith("Task: Is the number even?\nClass label:")
    assert si.input_first_prompt("Add the numbers.").endswith("Task: Add the numbers.\nExample 1")
    assert si.classification_prompt("Sort it.").endswith("Task: Sort it.\nIs it classification?")


# -- the job ---------------------------------------------------------------------------------------
def _run(store, llm, **cfg):
    runner = JobRunner(store)
    result = runner.run("selfinstruct", generation_job(llm, si.GenerationConfig(**cfg), backend="fake"))
    job_id = int(store.query_value("SELECT max(id) FROM jobs"))
    return result, job_id


def test_job_scripted_filters_rouge_truncation_and_output_first(seeded) -> None:
    listing = (
        " Give three tips for staying healthy today.\n"  # ROUGE-L vs a seed > 0.7
        "10. Decide whether the review is positive or negative.\n"  # classification -> output-first
        "11. Plot the sales figures.\n"  # blacklist
        "12. Explain why leaves change colour in autumn.\n"  # input-first
        "13. Tell me a joke about penguins and their"  # cut off by max_tokens
    )
    llm = FakeLLM(
        responses=[
            Completion(listing, "length"),
            " Yes",
            " No",
            " positive\nReview: Lovely food.\nClass label: negative\nReview: Cold soup.\nClass label: negative\n"
            "Review: Cold soup.",
            "\nOutput: Shorter days reduce chlorophyll, revealing yellow and red pigments.",
        ]
    )
    result, job_id = _run(seeded, llm, n_instructions=5, max_prompts=1, keep_truncated_prefix=True)
    assert result["kept"] == 2 and result["prompts"] == 1 and result["budget_spent"]
    assert llm.prompts[3].endswith("Class label:") and llm.prompts[4].endswith("Example 1")
    assert result["dropped"] == {"truncated": 1, "rouge_similar": 1, "blacklist": 1, "instance:duplicate_instance": 1}
    rows = examples.fetch(seeded, ExampleFilter(origins=["generated"]))
    assert rows[["input", "output"]].values.tolist() == [
        ["Review: Lovely food.", "positive"],
        ["Review: Cold soup.", "negative"],
        ["", "Shorter days reduce chlorophyll, revealing yellow and red pigments."],
    ]
    assert set(rows["status"]) == {"pending"} and rows["is_classification"].tolist() == [True, True, False]
    prov = json.loads(rows["provenance"][0])
    assert prov["model"] == "fake" and prov["prompt"] == llm.prompts[0] and prov["instance_order"] == "output-first"
    assert len(prov["similar"]) == 10 and prov["max_rouge_l"] == prov["similar"][0]["score"] < 0.7
    assert len(prov["prompt_tasks"]) == 8 and set(prov["seed_ids"]) <= set(range(1, 11))
    drops = drops_table.list_drops(seeded, job_id)
    by_reason = dict(zip(drops["reason"], drops["instruction"], strict=True))
    assert by_reason["rouge_similar"] == "Give three tips for staying healthy today."
    assert by_reason["truncated"] == "Tell me a joke about penguins and their"
    detail = json.loads(drops.set_index("reason").loc["rouge_similar", "detail"])
    assert detail["max_rouge_l"] > 0.7 and detail["most_similar"][0][0] == SEEDS[0]


def test_truncated_response_is_discarded_whole_by_default(seeded) -> None:
    listing = " Name the capital city of France.\n10. Explain why leaves change colour in autumn.\n11. Tell me a"
    llm = FakeLLM(responses=[Completion(listing, "length")])
    result, job_id = _run(seeded, llm, n_instructions=1, max_prompts=1)
    assert result["kept"] == 0 and len(llm.prompts) == 1 and result["dropped"] == {"truncated": 3}
    assert sorted(drops_table.list_drops(seeded, job_id)["instruction"]) == [
        "Explain why leaves change colour in autumn.",
        "Name the capital city of france.",  # str.capitalize(), as the original
        "Tell me a",
    ]


def test_pool_threshold_compares_the_exact_float(seeded) -> None:
    # LCS 7 of 9 + 11 tokens: rouge-score gives 0.7000000000000001 (> 0.7: dropped, as the original);
    # the old code rounded to 0.7 and kept it.
    seed = "alpha beta gamma delta epsilon zeta eta theta iota"
    cand = "Alpha beta gamma delta epsilon zeta eta one two three four"
    from rouge_score import rouge_scorer

    exact = rouge_scorer.RougeScorer(["rougeL"]).score(seed, cand)["rougeL"].fmeasure
    assert exact > 0.7 and round(exact, 4) == 0.7
    importers.import_bytes(seeded, _seed_file([seed]), "more_seeds.jsonl", "selfinstruct-seed")
    llm = FakeLLM(responses=[" " + cand])
    result, _ = _run(seeded, llm, n_instructions=1, max_prompts=1)
    assert result["dropped"] == {"rouge_similar": 1}


def test_no_valid_instances_drops_the_instruction_and_repeats_are_not_retried(seeded) -> None:
    listing = " Name the capital city of France.\n10. Name the capital city of France."
    llm = FakeLLM(responses=[listing, " No", "\nInput: France\nOutput: France"])
    result, _job_id = _run(seeded, llm, n_instructions=1, max_prompts=1)
    assert result["kept"] == 0 and len(llm.prompts) == 3
    assert result["dropped"] == {"instance:input_equals_output": 1, "no_valid_instances": 1, "repeated": 1}
    assert examples.count(seeded, ExampleFilter(origins=["generated"])) == 0


def test_fake_job_fills_pool_and_pool_honours_review(seeded) -> None:
    result, job_id = _run(seeded, FakeLLM(seed=1), n_instructions=6, prompt_batch=2)
    assert result["kept"] == 6 and not result["cancelled"]
    gen = examples.fetch(seeded, ExampleFilter(origins=["generated"]))
    assert gen["instruction"].nunique() == 6 and set(gen["origin"]) == {"generated"}
    assert sum(result["dropped"].values()) == len(drops_table.list_drops(seeded, job_id))
    assert jobs_table.get(seeded, job_id)["status"] == "succeeded"
    pool = si.load_pool(seeded)
    assert len(pool.seeds) == 10 and len(pool.machine) == 6
    first = gen.iloc[0]
    revisions.set_status(
        seeded, "rejected", author="t", ids=gen.loc[gen["instruction"] == first["instruction"], "id"].tolist()
    )
    second = gen[gen["instruction"] != first["instruction"]].iloc[0]
    revisions.update_example(
        seeded, int(second["id"]), {"instruction": "Edited: name a planet."}, expected_version=1, author="t"
    )
    machine = [t.instruction for t in si.load_pool(seeded).machine]
    assert first["instruction"] not in machine and "Edited: name a planet." in machine and len(machine) == 5


def test_cancel_keeps_accepted_rows(seeded) -> None:
    def cancel_once_rows_exist(fraction: float, message: str | None) -> None:
        job_id = int(seeded.query_value("SELECT max(id) FROM jobs"))
        if examples.count(seeded, ExampleFilter(origins=["generated"])) and not jobs_table.cancel_requested(
            seeded, job_id
        ):
            jobs_table.request_cancel(seeded, job_id)
            time.sleep(0.3)  # the job re-reads the cancel flag at most every 0.25 s

    job = generation_job(FakeLLM(seed=1), si.GenerationConfig(n_instructions=50, prompt_batch=2), backend="fake")
    result = JobRunner(seeded).run("selfinstruct", job, None, cancel_once_rows_exist)
    job_row = jobs_table.get(seeded, result["run_id"])
    assert result["cancelled"] and job_row["status"] == "cancelled" and 0 < result["kept"] < 50
    assert examples.count(seeded, ExampleFilter(origins=["generated"])) == result["rows"] > 0


def test_empty_pool_is_refused(store) -> None:
    with pytest.raises(ValueError, match="no seed tasks; import the Self-Instruct seed file"):
        _run(store, FakeLLM())


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="rouge_threshold"):
        si.GenerationConfig(rouge_threshold=1.5)
    with pytest.raises(ValueError, match="item_limit must exceed the 8 tasks"):
        si.GenerationConfig(item_limit=8)


def test_status_says_loading_model_while_the_model_loads(seeded) -> None:
    seen: list[str] = []

    class LoadingLLM(FakeLLM):
        def loading_message(self) -> str:
            return "loading model fake-1"

        def load(self) -> None:
            seen.append(jobs_table.get(seeded, int(seeded.query_value("SELECT max(id) FROM jobs")))["message"])

    result, _ = _run(seeded, LoadingLLM(seed=1), n_instructions=2)
    assert seen == ["loading model fake-1"] and result["kept"] == 2
