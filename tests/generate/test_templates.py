"""FLAN-style templates: exact rendered strings per format, validation errors, registry and applying to data."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from curation.filters import ExampleFilter
from curation.generate import templates as T
from curation.generate.template_formats import (
    COT_TRIGGERS,
    OPTIONS_HEADERS,
    FormatConfig,
    Task,
    Template,
    render_options,
    render_row,
)
from curation.io.importers import InvalidInputError
from curation.store import examples
from curation.store.actions import UndoConflictError

NLI = Task("nli_t", "NLI", ("premise", "hypothesis"), options=("yes", "no"))
NLI_TPL = Template("nli_t/1", "nli_t", "P: {premise}\nH: {hypothesis}\n{options_}", "{answer}")
ROWS = [
    {"premise": "A cat sleeps.", "hypothesis": "An animal rests.", "answer": "yes"},
    {"premise": "A dog barks.", "hypothesis": "It is silent.", "answer": "no"},
    {"premise": "Kids run.", "hypothesis": "Kids move.", "answer": "yes"},
]
MATH = Task("math_t", "arithmetic reasoning", ("question",), rationale_field="rationale")
MATH_TPL = Template("math_t/1", "math_t", "Q? {question}", "{answer}")
MATH_ROWS = [
    {"question": "2+3?", "answer": "5", "rationale": "2 plus 3 is 5."},
    {"question": "4*2?", "answer": "8", "rationale": "4 times 2 is 8."},
]


def test_zero_shot_fixed_options_exact() -> None:
    r = render_row(NLI, [NLI_TPL], ROWS, 0, FormatConfig(seed=1))
    assert r.instruction == "P: A cat sleeps.\nH: An animal rests.\nOPTIONS:\n- yes\n- no"
    assert r.output == "yes"
    assert (r.template_id, r.format, r.exemplars) == ("nli_t/1", "zero-shot", ())


def test_zero_shot_draws_one_template_per_example_deterministically() -> None:
    tpls = [Template(f"t/{i}", "nli_t", f"{i}: {{premise}}", "{answer}") for i in range(1, 6)]
    cfg = FormatConfig(seed=7)
    rows = ROWS * 10
    first = [render_row(NLI, tpls, rows, i, cfg).template_id for i in range(len(rows))]
    again = [render_row(NLI, tpls, rows, i, cfg).template_id for i in range(len(rows))]
    other = [render_row(NLI, tpls, rows, i, FormatConfig(seed=8)).template_id for i in range(len(rows))]
    assert first == again and first != other
    assert len(set(first)) > 1
    assert all(render_row(NLI, tpls, rows, i, cfg).instruction.startswith(t.split("/")[1]) for i, t in enumerate(first))


@pytest.mark.parametrize(
    ("style", "q", "a"),
    [("plain", "", ""), ("qa", "Q: ", "A: "), ("question-answer", "Question: ", "Answer: ")],
)
def test_few_shot_separators_and_exemplar_exclusion(style: str, q: str, a: str) -> None:
    tpl = Template("t/1", "nli_t", "{premise} => {hypothesis}", "{answer}")
    cfg = FormatConfig(format="few-shot", k=2, fewshot_style=style, seed=3)
    r = render_row(NLI, [tpl], ROWS, 1, cfg)
    assert sorted(r.exemplars) == [0, 2]  # only the other rows, never the target itself
    shots = [f"{q}{ROWS[j]['premise']} => {ROWS[j]['hypothesis']}\n\n{a}{ROWS[j]['answer']}" for j in r.exemplars]
    last = f"{q}A dog barks. => It is silent." + (f"\n\n{a.rstrip()}" if a else "")
    assert r.instruction == "\n\n\n".join([*shots, last])
    assert r.output == "no"
    assert r.details["k"] == 2 and r.format == "few-shot"


def test_few_shot_exemplars_never_include_target_over_many_seeds() -> None:
    rows = [{"premise": f"p{i}", "hypothesis": f"h{i}", "answer": "yes"} for i in range(6)]
    for seed in range(30):
        for index in range(6):
            r = render_row(NLI, [NLI_TPL], rows, index, FormatConfig(format="few-shot", k=5, seed=seed))
            assert index not in r.exemplars and len(set(r.exemplars)) == 5


def test_few_shot_needs_enough_rows() -> None:
    with pytest.raises(ValueError, match="3 exemplars need at least 4 rows"):
        render_row(NLI, [NLI_TPL], ROWS, 0, FormatConfig(format="few-shot", k=3))


def test_random_options_headers_and_bullets() -> None:
    seen_headers, seen_bullets = set(), set()
    for seed in range(60):
        block, details = render_options(("yes", "no"), "random", random.Random(seed))
        header, *lines = block.split("\n")
        assert header in OPTIONS_HEADERS and len(lines) == 2
        assert lines[0].endswith("yes") and lines[1].endswith("no")
        seen_headers.add(header)
        seen_bullets.add(details["options_bullet"])
    assert len(seen_headers) > 3 and len(seen_bullets) > 3
    block, _ = render_options(("yes", "no"), "random", random.Random(0))
    assert block == render_options(("yes", "no"), "random", random.Random(0))[0]


def test_letter_bullets_render_in_order() -> None:
    rng = random.Random()
    rng.choice = lambda seq: "({letter}) " if "- " in seq else "Choices:"  # type: ignore[method-assign]
    block, _ = render_options(("red", "green", "blue"), "random", rng)
    assert block == "Choices:\n(A) red\n(B) green\n(C) blue"


def test_cot_rationale_first_exact() -> None:
    r = render_row(MATH, [MATH_TPL], MATH_ROWS, 0, FormatConfig(format="cot"))
    assert r.instruction == "Q? 2+3?\nLet's think step by step."
    assert r.output == "2 plus 3 is 5. So the answer is 5."


def test_cot_answer_first_exact() -> None:
    r = render_row(MATH, [MATH_TPL], MATH_ROWS, 1, FormatConfig(format="cot", cot_style="answer-first"))
    assert r.output == "8. Explanation: 4 times 2 is 8."


def test_cot_random_trigger_and_few_shot_cot() -> None:
    cfg = FormatConfig(format="cot", cot_trigger="random", k=1, fewshot_style="qa", seed=4)
    r = render_row(MATH, [MATH_TPL], MATH_ROWS, 0, cfg)
    trigger = r.details["cot_trigger"]
    assert trigger in COT_TRIGGERS
    assert (
        r.instruction
        == f"Q: Q? 4*2?\n{trigger}\n\nA: 4 times 2 is 8. So the answer is 8.\n\n\nQ: Q? 2+3?\n{trigger}\n\nA:"
    )


@pytest.mark.parametrize(
    ("inp", "target", "message"),
    [
        ("P: {premise} {color}", "{answer}", r"unknown placeholder \{color\} in the input"),
        ("P: {premise}", "{answer} {options_}", r"unknown placeholder \{options_\} in the target"),
        ("P: {premise}", "The label.", r"the target has no answer placeholder; put \{answer\}"),
        ("P: {premise} {answer}", "{answer}", r"input contains \{answer\}"),
        ("P: {premise!r}", "{answer}", "format spec or conversion"),
        ("P: {premise", "{answer}", "not a valid pattern"),
        ("No fields here", "{answer}", "uses none of the task's fields"),
        ("  ", "{answer}", "the input is empty"),
    ],
)
def test_invalid_templates_are_refused(inp: str, target: str, message: str) -> None:
    with pytest.raises(T.TemplateError, match=message) as err:
        T.check_template(NLI, inp, target, "nli_t/9")
    assert "template nli_t/9 of task nli_t" in str(err.value)


def test_options_placeholder_on_task_without_options() -> None:
    with pytest.raises(T.TemplateError, match=r"\{options_\} in the input \(the task has no label options\)"):
        T.check_template(MATH, "{question} {options_}", "{answer}")


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (Task("Bad Name", "x", ("a",)), "must be lowercase"),
        (Task("t", " ", ("a",)), "cluster is empty"),
        (Task("t", "x", ()), "at least one input field"),
        (Task("t", "x", ("answer",)), "clashes"),
        (Task("t", "x", ("a",), options=("y", "y")), "distinct"),
        (Task("t", "x", ("a b",)), "identifier"),
    ],
)
def test_invalid_tasks_are_refused(task: Task, message: str) -> None:
    with pytest.raises(T.TemplateError, match=message):
        T.check_task(task)


def test_builtin_tasks_load_once_with_five_templates_each(store) -> None:
    assert sorted(T.ensure_builtin_tasks(store)) == ["arithmetic", "nli", "sentiment"]
    assert T.ensure_builtin_tasks(store) == []
    tasks = {t.name: t for t in T.list_tasks(store)}
    assert tasks["nli"].cluster == "NLI" and tasks["nli"].is_classification
    assert tasks["arithmetic"].rationale_field == "rationale"
    for name in tasks:
        assert len(T.get_templates(store, name)) >= 5
        frame, _ = T.builtin_sample(name)
        assert len(frame) >= 10


def test_template_crud_and_builtin_protection(store) -> None:
    tid = T.add_template(store, "sentiment", "Say: {text}\n{options_}", "{answer}", author="me")
    assert tid == "sentiment/7"
    T.edit_template(store, tid, "Tell me: {text}\n{options_}", "It is {answer}.", author="me")
    assert T.get_templates(store, "sentiment", [tid])[0].target == "It is {answer}."
    with pytest.raises(T.TemplateError, match=r"unknown placeholder \{txt\}"):
        T.edit_template(store, tid, "{txt}", "{answer}", author="me")
    T.delete_template(store, tid, author="me")
    with pytest.raises(KeyError, match="no template 'sentiment/7'"):
        T.get_templates(store, "sentiment", [tid])
    with pytest.raises(ValueError, match="built in"):
        T.delete_task(store, "nli", author="me")
    T.save_task(store, Task("qa_t", "QA", ("question",)), author="me")
    T.add_template(store, "qa_t", "{question}", "{answer}", author="me")
    assert T.delete_task(store, "qa_t", author="me") == 1
    with pytest.raises(KeyError, match="does not exist; known tasks"):
        T.get_task(store, "qa_t")


def test_apply_uploaded_csv_with_mapping_is_deterministic(store) -> None:
    csv = b"p,h,label\nA cat sleeps.,An animal rests.,Yes\nA dog barks.,It is silent.,no\nKids run.,Kids move.,yes\n"
    T.save_task(store, NLI, author="me")
    T.add_template(store, "nli_t", NLI_TPL.input, NLI_TPL.target, author="me")
    task, tpls = T.get_task(store, "nli_t"), T.get_templates(store, "nli_t")
    cfg = FormatConfig(format="few-shot", k=1, seed=5)
    ds = T.dataset_from_table(
        T.read_table(csv, "d.csv"),
        task,
        cfg,
        name="d.csv",
        mapping={"premise": "p", "hypothesis": "h", "answer": "label"},
    )
    assert ds.records[0]["answer"] == "yes"  # label case normalised to the task's option
    preview = T.render(task, tpls, ds, cfg, limit=2)
    ids = T.apply_templates(store, task, tpls, ds, cfg, author="me")
    rows = examples.fetch(store, ExampleFilter(ids=ids))
    assert rows["instruction"].tolist()[:2] == [p.instruction for p in preview]
    assert set(rows["origin"]) == {"templated"} and set(rows["format"]) == {"few-shot"}
    assert set(rows["task"]) == {"nli_t"} and set(rows["task_cluster"]) == {"NLI"}
    prov = json.loads(rows["provenance"][0])
    assert prov["seed"] == 5 and prov["template"]["id"] == "nli_t/1" and prov["source_row"] == 0
    assert prov["exemplar_rows"] and 0 not in prov["exemplar_rows"]
    again = T.render(task, tpls, ds, cfg)
    assert [r.instruction for r in again] == rows["instruction"].tolist()


def test_bad_labels_and_missing_columns_name_the_line() -> None:
    frame = pd.DataFrame({"premise": ["a", "b"], "hypothesis": ["c", ""], "answer": ["yes", "maybe"]})
    with pytest.raises(InvalidInputError) as err:
        T.dataset_from_table(frame, NLI, FormatConfig(), name="x.jsonl")
    assert err.value.errors == [
        "x.jsonl line 2: field 'hypothesis' is empty",
        "x.jsonl line 2: answer 'maybe' is not one of the task's options ['yes', 'no']; fix the label",
    ]
    with pytest.raises(InvalidInputError, match="needs column 'hyp'"):
        T.dataset_from_table(frame, NLI, FormatConfig(), name="x.csv", mapping={"hypothesis": "hyp"})
    with pytest.raises(T.TemplateError, match="no rationale field"):
        T.dataset_from_table(frame, NLI, FormatConfig(format="cot"), name="x.csv")


def test_read_table_formats(tmp_path) -> None:
    frame = pd.DataFrame({"text": ["good", "bad"], "answer": ["positive", "negative"]})
    frame.to_parquet(tmp_path / "s.parquet")
    jsonl = b'{"text": "good", "answer": "positive"}\n{"text": "bad", "answer": "negative"}\n'
    for data, name in ((jsonl, "s.jsonl"), ((tmp_path / "s.parquet").read_bytes(), "s.parquet")):
        assert T.read_table(data, name)["text"].tolist() == ["good", "bad"]
    with pytest.raises(InvalidInputError, match=r"use a \.csv"):
        T.read_table(b"x", "s.txt")


def test_apply_to_flan_cot_rows_in_store(make_store) -> None:
    store = make_store(
        [
            {
                "instruction": q,
                "output": f"{r} So the answer is {a}.",
                "meta": {"question": q, "answer": a, "rationale": r},
                "task": "gsm8k",
                "origin": "imported",
            }
            for q, a, r in [("1+1?", "2", "One and one."), ("2+2?", "4", "Two and two."), ("3+3?", "6", "Three.")]
        ]
    )
    task = T.get_task(store, "arithmetic")
    tpls = T.get_templates(store, "arithmetic", ["arithmetic/1"])
    cfg = FormatConfig(format="cot", cot_style="answer-first")
    ds = T.dataset_from_store(store, ExampleFilter(tasks=["gsm8k"]), task, cfg)
    ids = T.apply_templates(store, task, tpls, ds, cfg, author="me")
    row = examples.get(store, ids[1])
    assert row["instruction"] == "2+2?\nLet's think step by step."
    assert row["output"] == "4. Explanation: Two and two."
    assert row["provenance"]["source_example_id"] == 2 and row["template_id"] == "arithmetic/1"


def test_templates_and_tasks_are_versioned_and_undoable(store) -> None:
    from curation.store import revisions
    from curation.store import templates as template_rows

    tid = T.add_template(store, "sentiment", "Say: {text}\n{options_}", "{answer}", author="me")
    table, name = T.builtin_sample("sentiment")
    task, cfg = T.get_task(store, "sentiment"), FormatConfig(format="zero-shot", seed=1)
    dataset = T.dataset_from_table(table, task, cfg, name=name)
    made = T.apply_templates(store, task, T.get_templates(store, "sentiment", [tid]), dataset, cfg, author="me")
    T.edit_template(store, tid, "Tell me: {text}\n{options_}", "{answer}", author="me")
    edit = int(revisions.list_actions(store, ["template-edit"])["id"].iloc[0])
    delete = T.delete_template(store, tid, author="you")
    assert template_rows.template_version(store, tid, 1)["input_pattern"] == "Say: {text}\n{options_}"
    assert template_rows.template_version(store, tid, 3) is None  # the deleted version
    row = examples.get(store, made[0])  # the templated row still names the version that produced it
    assert (row["template_id"], row["template_version"], row["provenance"]["template"]["version"]) == (tid, 1, 1)
    with pytest.raises(UndoConflictError, match=f"template {tid} changed since"):
        revisions.undo_action(store, edit, author="me")  # the delete came later
    revisions.undo_action(store, delete, author="me")
    revisions.undo_action(store, edit, author="me")
    assert T.get_templates(store, "sentiment", [tid])[0].input == "Say: {text}\n{options_}"
    assert T.get_templates(store, "sentiment", [tid])[0].version == 5
    T.save_task(store, Task("qa_t", "QA", ("question",)), author="me")
    T.add_template(store, "qa_t", "{question}", "{answer}", author="me")
    gone = (
        int(revisions.list_actions(store, ["task-delete"], 1)["id"].iloc[0])
        if T.delete_task(store, "qa_t", author="me")
        else 0
    )
    assert [t.name for t in T.list_tasks(store)].count("qa_t") == 0
    revisions.undo_action(store, gone, author="me")
    assert [t.id for t in T.get_templates(store, "qa_t")] == ["qa_t/1"]
