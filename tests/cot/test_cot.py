"""CoT detector (signals table, conversions) and CoT tagging in the store (auto vs manual, threshold, jobs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from curation.cot import detector as cot
from curation.cot import formats
from curation.cot import tagging as cot_tagging
from curation.filters import ExampleFilter
from curation.jobs import JobCancelled, JobRunner
from curation.store import cot as cot_store
from curation.store import examples, revisions
from curation.store import signals as signals_store

GSM = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many?"
GSM_RATIONALE = "Natalia sold 48 / 2 = 24 clips in May. Natalia sold 48 + 24 = 72 clips altogether in April and May."
CREAK = 'Is the following a factual statement?\n"Larry King served tea during his show."\nOptions:\n- yes\n- no'

# (instruction, input, output, is CoT, signals that must fire)
CASES = [
    # rationale then "So the answer is" (how the FLAN importer stores CoT rows)
    (GSM, "", f"{GSM_RATIONALE} So the answer is 72.", True, {"answer_marker", "arithmetic_chain"}),
    # GSM8K's own format
    (GSM, "", f"{GSM_RATIONALE}\n#### 72", True, {"answer_marker"}),
    # trigger phrase in the instruction, answer in a different style
    (
        "Q: A train travels 60 km in 1.5 hours. What is its speed? A: Let's think step by step.",
        "",
        "Speed is distance over time. 60 / 1.5 = 40. The speed is 40 km/h.",
        True,
        {"trigger_phrase"},
    ),
    (
        "Answer the question. Explain your reasoning.",
        "Can a penguin fly?",
        "Penguins have flippers instead of wings suited for flight. They swim instead. So no.",
        True,
        {"trigger_phrase"},
    ),
    # answer first, then the explanation
    pytest.param(
        "Is the sky blue on a clear day?",
        "",
        "Yes. Explanation: air scatters short blue wavelengths of sunlight much more than red ones.",
        True,
        {"answer_then_explanation"},
        marks=pytest.mark.xfail(
            strict=True, reason="learned weights (bench/cot_learn.py) decide otherwise: a known miss"
        ),
    ),
    # numbered steps and a final answer in yet another wording
    (
        "Tom has 3 boxes of 4 apples and eats 2. How many apples are left?",
        "",
        "Step 1: Tom has 3 * 4 = 12 apples.\nStep 2: He eats 2, so 12 - 2 = 10 remain.\nThe final answer is 10.",
        True,
        {"step_markers", "answer_marker", "arithmetic_chain"},
    ),
    # several reasoning sentences with connectives and arithmetic, then "Therefore, ..."
    (
        "A shirt costs $20 and is 25% off. What does it cost?",
        "",
        "The discount is 20 * 0.25 = 5 dollars. So the price drops by 5. The new price is 20 - 5 = 15 dollars. "
        "Therefore, the shirt costs $15.",
        True,
        {"conclusion_sentence", "arithmetic_chain", "reasoning_connectives"},
    ),
    # bare rationale, then a short answer that is one of the listed options
    (
        CREAK,
        "",
        "He had a set format that did not involve tea.\nno",
        True,
        {"short_final_answer", "answer_from_options"},
    ),
    # a reasoning opener in the output itself
    (
        "How many legs do 3 spiders have?",
        "",
        "Let's think step by step. A spider has 8 legs, so 3 spiders have 3 * 8 = 24 legs. The answer is 24.",
        True,
        {"trigger_phrase", "answer_marker"},
    ),
    # ---- not CoT: lists, several sentences, quizzes, procedures, bare answers ----
    (
        "List five renewable energy sources.",
        "",
        "1. Solar\n2. Wind\n3. Hydropower\n4. Geothermal\n5. Biomass",
        False,
        set(),
    ),
    (
        "Describe the benefits of regular exercise.",
        "",
        "Regular exercise strengthens the heart and lungs. It also improves mood and sleep. People who exercise "
        "tend to live longer. Finally, it helps keep a healthy weight.",
        False,
        set(),
    ),
    (
        "Create a multiple choice quiz question.",
        "",
        "Q: What is the largest planet?\nA. Mars\nB. Jupiter\nC. Venus\n\nAnswer: B. Jupiter",
        False,
        set(),
    ),
    ("What is 2 + 2?", "", "The answer is 4.", False, set()),
    (
        "Explain how to make tea.",
        "",
        "Step 1: Boil water.\nStep 2: Add the tea bag.\nStep 3: Steep for three minutes.\nStep 4: Enjoy.",
        False,
        {"step_markers"},
    ),
    pytest.param(
        "Generate a multiplication table for 4.",
        "",
        "4x1 = 4\n4x2 = 8\n4x3 = 12\n4x4 = 16",
        False,
        set(),
        marks=pytest.mark.xfail(
            strict=True, reason="learned weights (bench/cot_learn.py) decide otherwise: a known miss"
        ),
    ),
    (
        "Write a persuasive paragraph about recycling.",
        "",
        "Recycling saves resources because materials are reused. It reduces landfill waste since less is thrown "
        "away. Therefore, every household should make recycling a daily habit and encourage their neighbours.",
        False,
        {"conclusion_sentence"},
    ),
    ("Explain the working of a blockchain ledger.", "", "", False, set()),
    ("Describe the works of art in this museum.", "", "The museum shows paintings and sculptures.", False, set()),
]


@pytest.mark.parametrize(("instruction", "input_", "output", "is_cot", "signals"), CASES)
def test_detector_table(instruction: str, input_: str, output: str, is_cot: bool, signals: set[str]) -> None:
    found = cot.detect(instruction, input_, output)
    assert (found.score >= cot.DEFAULT_THRESHOLD) is is_cot, found
    assert signals <= set(found.names()), found
    assert 0.0 <= found.score <= 1.0
    assert all(s["evidence"] for s in found.detail())


def test_rule_score_is_the_noisy_or_of_fired_signals_damped_by_penalties() -> None:
    found = cot.detect(CREAK, "", "He had a set format that did not involve tea.\nno")
    weights = [s.weight for s in found.signals]
    assert weights[:2] == [cot.WEIGHTS["short_final_answer/canonical"], cot.WEIGHTS["answer_from_options"]]
    expected = 1.0
    for w in weights:
        expected *= 1 - w
    assert cot.rule_score(found.signals) == pytest.approx(1 - expected, abs=1e-4)
    code = "def f(x):\n    return x * 2\n\nprint(f(3))"
    penalised = cot.detect("What does this print? Let's think step by step.", "", code)
    assert "code" in penalised.names() and "trigger_phrase" in penalised.names()
    miss = 1.0
    for s in penalised.signals:
        miss *= 1 - s.weight if s.name != "code" else 1.0
    assert cot.rule_score(penalised.signals) == pytest.approx((1 - miss) * (1 - 0.85), abs=1e-4)
    assert penalised.score < cot.DEFAULT_THRESHOLD


def test_score_is_the_logistic_model_over_the_fired_signals() -> None:
    """Recomputed here from weights.json by hand: -log(1 - w) per reasoning signal, log(1 - f) per penalty."""
    shipped = json.loads((Path(cot.__file__).parent / "weights.json").read_text())
    weight = dict(zip(shipped["features"], shipped["weights"], strict=True))
    for found in (
        cot.detect(CREAK, "", "He had a set format that did not involve tea.\nno"),
        cot.detect("What does this print? Let's think step by step.", "", "def f(x):\n    return x * 2\n\nprint(f(3))"),
    ):
        z, fired = shipped["bias"], set()
        for s in found.signals:
            if s.name in fired:
                continue
            fired.add(s.name)
            value = math.log(1 - s.weight) if s.name in cot.PENALTIES else -math.log(1 - s.weight)
            z += weight[s.name] * value
        z += weight["signals_fired"] * len(fired - set(cot.PENALTIES)) + weight["log_words"] * math.log1p(found.words)
        assert found.score == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-4)


@pytest.mark.parametrize(
    ("output", "direct"),
    [
        (f"{GSM_RATIONALE} So the answer is 72.", "72"),
        ("The rock group would not require that. So the answer is no.", "no"),
        (f"{GSM_RATIONALE}\n#### 72", "72"),
        ("(C). Explanation: 1/7:1/7:1/14 = 2:2:1 and so on.", "(C)"),
        ("Yes. Explanation: air scatters blue light more than red light.", "Yes"),
        ("It is 20 - 5 = 15 dollars. Therefore, the shirt costs $15.", "The shirt costs $15"),
        ("He had a set format that did not involve tea.\nno", "no"),
    ],
)
def test_direct_format_keeps_only_the_final_answer(output: str, direct: str) -> None:
    converted = formats.convert_row({"instruction": "Q?", "output": output}, "direct")
    assert converted == (direct, None, True)


def test_direct_format_leaves_rows_without_a_findable_answer_unchanged() -> None:
    essay = "Recycling matters a great deal for the planet and for all of us who live on it today."
    assert formats.convert_row({"output": essay}, "direct") == (essay, None, False)
    with pytest.raises(ValueError, match="cot', 'direct"):
        formats.convert_row({"output": essay}, "both")


ROWS = [
    {"instruction": GSM, "output": f"{GSM_RATIONALE} So the answer is 72."},  # 1: CoT
    {"instruction": "List two colours.", "output": "1. Red\n2. Blue"},  # 2: not CoT
    {"instruction": CREAK, "output": "He had a set format that did not involve tea.\nno"},  # 3: CoT (0.90)
    {"instruction": "What is 2 + 2?", "output": "The answer is 4."},  # 4: weak (0.15)
]


def _tags(store) -> dict[int, str]:
    return dict(store.query_rows("SELECT example_id, source FROM example_tags WHERE tag = 'cot' ORDER BY 1"))


def _tag_row(store, example_id: int) -> tuple:
    source, score, detail = store.query_rows(
        "SELECT source, score, detail FROM example_tags WHERE example_id = ?", [example_id]
    )[0]
    return source, score, json.loads(detail)


def test_auto_tagging_stores_score_and_signals_and_browse_filters_by_it(make_store) -> None:
    store = make_store(ROWS)
    result = cot_tagging.tag_rows(store, threshold=0.5)
    assert result["threshold"] == 0.5 and result["scored"] == 4 and result["auto_tagged"] == 2
    assert _tags(store) == {1: "auto", 3: "auto"}
    score, detail = store.query_rows("SELECT score, detail FROM example_tags WHERE example_id = 1")[0]
    assert score >= 0.7 and "answer_marker" in {s["name"] for s in json.loads(detail)}
    assert examples.page(store, ExampleFilter(tags=["cot"]))["id"].tolist() == [1, 3]
    # a higher threshold re-materialises tags from the stored scores without re-detecting
    assert cot_store.apply_threshold(store, 1.0)["auto_tagged"] == 0
    assert _tags(store) == {}
    assert cot_store.apply_threshold(store, 0.5)["auto_tagged"] == 2
    assert _tags(store) == {1: "auto", 3: "auto"}
    assert cot_tagging.tag_rows(store, threshold=0.6)["scored"] == 0  # nothing new or edited


def test_manual_decisions_always_win_and_are_undoable(make_store) -> None:
    store = make_store(ROWS)
    cot_tagging.tag_rows(store, threshold=0.5)
    auto_tag = _tag_row(store, 1)
    untag = cot_tagging.set_manual(store, False, author="ann", ids=[1])  # auto-tagged row: not CoT after all
    tag = cot_tagging.set_manual(store, True, author="ann", ids=[4])  # low score: CoT by hand
    assert _tags(store) == {3: "auto", 4: "manual"}
    result = cot_tagging.tag_rows(store, threshold=0.1, rescore=True)  # everything would be tagged now
    assert result["scored"] == 4
    assert _tags(store) == {2: "auto", 3: "auto", 4: "manual"}  # row 1 stays untagged, 4 stays manual
    revisions.undo_action(store, untag.action_id, author="ann")
    # undo restores the auto tag exactly (source, score, signals); the row is no longer manually decided
    assert _tag_row(store, 1) == auto_tag and auto_tag[0] == "auto"
    assert cot_store.summary(store, 0.5)["manual"] == 1
    revisions.undo_action(store, tag.action_id, author="ann")
    assert cot_store.summary(store, 0.5)["manual"] == 0
    cot_tagging.tag_rows(store, threshold=0.1, rescore=True)
    assert _tags(store) == {1: "auto", 2: "auto", 3: "auto", 4: "auto"}  # both rows are the detector's again
    # manual tag, its undo, then the auto tag of the threshold: each a revision of an action
    history = revisions.history(store, 4)
    assert history["field"].tolist() == ["tag:cot", "tag:cot", "tag:cot"]
    assert history["action"].tolist() == ["cot-manual", "undo", "cot-threshold"]


def test_confirming_an_auto_tag_makes_it_manual(make_store) -> None:
    store = make_store(ROWS)
    cot_tagging.tag_rows(store, threshold=0.5)
    result = cot_tagging.set_manual(store, True, author="ann", flt=ExampleFilter(ids=[3]))
    assert result.action_id is not None and result.rows == 1
    assert _tags(store)[3] == "manual"
    confirm_no = cot_tagging.set_manual(store, False, author="ann", ids=[2])  # already untagged: recorded
    assert confirm_no.rows == 1
    cot_tagging.tag_rows(store, threshold=0.1, rescore=True)
    assert _tags(store) == {1: "auto", 3: "manual", 4: "auto"}  # raising/lowering never touches 2 or 3
    counts = cot_store.summary(store, 0.5)
    assert counts["manual"] == 2 and counts["manual_cot_detected"] == 1 and counts["manual_not_cot_rejected"] == 1


def test_edited_rows_are_rescored(make_store) -> None:
    store = make_store(ROWS)
    cot_tagging.tag_rows(store)
    revisions.update_example(store, 2, {"output": "Red is warm. So the answer is red."}, expected_version=1, author="a")
    assert cot_tagging.tag_rows(store)["scored"] == 1
    assert 2 in _tags(store)


def test_tagging_job_reports_progress_and_keeps_partial_scores_on_cancel(make_store, monkeypatch) -> None:
    store = make_store(ROWS)
    monkeypatch.setattr(cot_tagging, "CHUNK", 2)
    seen: list[float] = []
    result = JobRunner(store).run(cot_tagging.JOB_KIND, cot_tagging.tag_job(0.5), {}, lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and result["scored"] == 4
    assert signals_store.delete(store, "cot") == 4

    def cancel_after_first(done: int, total: int) -> None:
        raise JobCancelled("stop")

    partial = cot_tagging.tag_rows(store, progress=cancel_after_first)
    assert partial["cancelled"] and partial["scored"] == 2 and _tags(store) == {1: "auto"}
    with pytest.raises(ValueError, match="threshold"):
        cot_tagging.tag_job(1.5)


def test_scored_page_views_and_histogram(make_store) -> None:
    store = make_store(ROWS)
    cot_tagging.tag_rows(store)
    cot_tagging.set_manual(store, False, author="ann", ids=[1])
    page = cot_store.scored_page(store, threshold=0.5, view="all")
    assert page["id"].tolist()[0] == 1 and page["tag"].tolist()[0] == "not cot (manual)"
    assert cot_store.scored_page(store, threshold=0.5, view="disagree")["id"].tolist() == [1]
    assert sorted(cot_store.scored_page(store, threshold=0.5, view="above")["id"]) == [1, 3]
    assert "answer_marker" in page.loc[page["id"] == 1, "signals"].iloc[0]
    hist = cot_store.score_histogram(store, bins=10)
    assert len(hist) == 10 and hist["count"].sum() == 4


def test_batch_scoring_in_worker_processes_matches_inline(monkeypatch) -> None:
    from curation.cot import batch

    rows = [(r["instruction"], "", r["output"], None) for r in ROWS] * 3
    monkeypatch.setattr(batch, "MIN_PARALLEL", 4)
    monkeypatch.setattr(batch, "_workers", lambda: 2)
    assert batch.score_rows(rows) == batch._score(rows)
    assert [score for score, _ in batch._score(rows[:4])] == [cot.detect(r[0], "", r[2]).score for r in rows[:4]]
