"""Dedup page: run ROUGE-L as a job, review a cluster (highlighted shared tokens), change the kept row, split,
accept, apply, undo; contamination check from pasted rows."""

from __future__ import annotations

import html
import json
import os
import re
import time
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from curation.dedup import encoder
from curation.store import Store, examples, jobs_table, revisions

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "7_Dedup.py")
ROWS = [
    {"instruction": "Write a poem about the sea.", "output": "short"},
    {"instruction": "Write a poem about the sea!", "output": "a much longer output"},
    {"instruction": "write a POEM about <b>the</b> sea", "output": "mid"},
    {"instruction": "Give three tips for staying healthy.", "output": "x"},
    {"instruction": "Give three tips for staying healthy", "output": "x"},
    {"instruction": "Name the capital of France.", "output": "Paris"},
]


def _store() -> Store:
    return Store(os.environ["INSTRUCT_CURATOR_DB"])


def _statuses() -> dict[int, str]:
    return dict(_store().query_rows("SELECT id, status FROM examples ORDER BY id"))


def _wait(job_id: int, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = jobs_table.get(_store(), job_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def shown_text(body: str) -> str:
    """What a browser shows of an HTML card: tags dropped, entities decoded (white-space is pre-wrap)."""
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def card_fields(body: str) -> dict[str, str]:
    """The shown text of each field box of a card (instruction, input, output); '' for an empty field."""
    boxes = re.findall(r'data-field="(\w+)"(.*?)(?=data-field=|$)', body, re.DOTALL)
    found = {}
    for field, part in boxes:
        text = re.search(r'<div style="white-space:pre-wrap[^"]*">(.*?)</div>', part, re.DOTALL)
        found[field] = shown_text(text.group(1)) if text else ""
    return found


def _button(at: AppTest, label_start: str):
    return next(b for b in at.button if b.label.startswith(label_start))


def _started_run(at: AppTest) -> AppTest:
    examples.add_examples(_store(), pd.DataFrame(ROWS), examples.SourceInfo(name="page", format="test"))
    at.run()
    at.number_input(key="dd_threshold_rouge").set_value(0.8).run()
    at.button(key="dd_start").click().run()
    job = _wait(int(at.session_state["dd_job"]), seconds=300)  # loads the real model
    assert job["status"] == "succeeded", job
    at.run()
    assert not at.exception, at.exception
    return at


def test_empty_database_says_to_start_a_run() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    assert any("No dedup runs yet" in i.value for i in at.info)


def test_run_review_change_kept_split_apply_and_undo() -> None:
    at = _started_run(AppTest.from_file(PAGE, default_timeout=60))
    assert at.metric[1].value == "4"  # similar pairs
    assert at.metric[3].value == "3"  # rows that would be marked
    assert len(at.get("vega_lite_chart")) == 1  # the nearest-neighbour histogram
    cards = [h.proto.body for h in at.get("html")]
    assert any('&lt;b&gt;<mark style="padding:0;margin:0">the</mark>&lt;/b&gt;' in c for c in cards)  # escaped
    assert [card_fields(c) for c in cards] == [  # as stored, output beside the instruction
        {"instruction": r["instruction"], "output": r["output"]} for r in (ROWS[1], ROWS[0], ROWS[2])
    ]
    kept_caption = next(c.value for c in at.caption if "KEPT" in c.value)
    assert kept_caption.startswith("#2 ")  # longer output wins
    at.button(key="dd_keep_0_3").click().run()
    assert next(c.value for c in at.caption if "KEPT" in c.value).startswith("#3 ")
    at.button(key="dd_split_0_1").click().run()
    _button(at, "Apply").click().run()  # only the reviewed (accepted) poem cluster
    assert _statuses() == {1: "pending", 2: "duplicate", 3: "pending", 4: "pending", 5: "pending", 6: "pending"}
    at.button(key="dd_undo").click().run()
    assert set(_statuses().values()) == {"pending"}
    at.button(key="dd_accept_all").click().run()
    _button(at, "Apply").click().run()
    assert _statuses() == {1: "pending", 2: "duplicate", 3: "pending", 4: "pending", 5: "duplicate", 6: "pending"}
    assert any("Marked 2 rows duplicate" in s.value for s in at.success)
    assert at.button(key="dd_apply").disabled
    at.button(key="dd_undo").click().run()
    assert set(_statuses().values()) == {"pending"}
    assert not at.exception, at.exception


def test_contamination_check_from_pasted_rows_and_tag() -> None:
    examples.add_examples(_store(), pd.DataFrame(ROWS), examples.SourceInfo(name="page", format="test"))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.text_area(key="dd_eval_text").set_value(json.dumps({"instruction": "NAME THE CAPITAL OF FRANCE"})).run()
    at.number_input(key="dd_eval_t_rouge").set_value(1.0).run()
    at.button(key="dd_eval_start").click().run()
    job = _wait(int(at.session_state["dd_job"]))
    assert job["status"] == "succeeded" and job["result"]["matched_rows"] == 1
    at.run()
    assert not at.exception, at.exception
    at.button(key="dd_eval_tag").click().run()
    assert list(examples.fetch(_store(), examples.ExampleFilter(tags=["contaminated"]), ("id",))["id"]) == [6]
    at.button(key="dd_eval_untag").click().run()
    assert examples.count(_store(), examples.ExampleFilter(tags=["contaminated"])) == 0


REVIEW_ROWS = [
    {"instruction": "Sort the numbers <script> in order.", "output": "the longest output"},  # 1 kept
    {"instruction": "Sort the numbers <script> in order!", "output": "x"},  # 2
    {"instruction": "Give three tips for staying healthy.", "output": "a longer one"},  # 3 kept
    {"instruction": "Give three tips for staying healthy", "output": "x"},  # 4
]


def test_cluster_search_jump_not_duplicates_and_undo_that_lists_later_changes() -> None:
    examples.add_examples(_store(), pd.DataFrame(REVIEW_ROWS), examples.SourceInfo(name="page", format="test"))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="dd_mode").set_value("greedy").run()
    assert at.radio(key="dd_rule_greedy").value == "gt"  # the Self-Instruct filter's rule
    at.radio(key="dd_mode").set_value("pairs").run()
    assert at.radio(key="dd_rule_pairs").value == "ge"
    at.number_input(key="dd_threshold_rouge").set_value(0.8).run()
    at.button(key="dd_start").click().run()
    assert _wait(int(at.session_state["dd_job"]))["status"] == "succeeded"
    at.run()
    at.text_input(key="dd_cluster_search").set_value("HEALTHY").run()
    assert at.selectbox(key="dd_cluster_1").options == ["cluster 1 · 2 rows · best 1.000"]
    at.text_input(key="dd_cluster_search").set_value("").run()
    at.session_state["dd_cluster_table_1"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()  # selecting the first table row opens that cluster
    assert at.selectbox(key="dd_cluster_1").value == 0
    assert at.button(key="dd_review_previous").disabled
    at.button(key="dd_review_next").click().run()  # J: the next cluster
    assert at.selectbox(key="dd_cluster_1").value == 1
    at.button(key="dd_review_previous").click().run()  # K: back
    assert at.selectbox(key="dd_cluster_1").value == 0
    cards = [card_fields(h.proto.body)["instruction"] for h in at.get("html")]
    assert cards == ["Sort the numbers <script> in order.", "Sort the numbers <script> in order!"]  # as stored
    assert any(c.value == "score vs kept #1: 1" for c in at.caption)
    at.button(key="dd_review_reject").click().run()
    at.button(key="dd_accept_all").click().run()
    _button(at, "Apply").click().run()
    assert _statuses() == {1: "pending", 2: "pending", 3: "pending", 4: "duplicate"}
    reason = _store().query_value("SELECT status_reason FROM examples WHERE id = 4")
    assert reason == "dedup run 1: duplicate of #3, score 1 (ROUGE-L >= 0.8 on instruction, pairs)"
    revisions.set_status(_store(), "approved", ids=[4], author="someone")  # a later review
    at.button(key="dd_undo").click().run()
    assert _statuses()[4] == "approved"  # not clobbered
    assert any("1 rows marked by action 1 were changed since" in w.value for w in at.warning)
    at.button(key="dd_undo_force").click().run()
    assert _statuses()[4] == "pending" and not at.exception


def test_embedding_runtime_and_search_are_chosen_on_the_page_and_reach_the_run(monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_EMBEDDING_BACKEND", "onnx")
    examples.add_examples(_store(), pd.DataFrame(ROWS), examples.SourceInfo(name="page", format="test"))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    at.radio(key="dd_method").set_value("embedding").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="dd_backend").value == "onnx"  # the setting is the default
    assert "Embeddings run on **onnx**;" in " ".join(c.value for c in at.caption)
    if not encoder.cuda_available():  # a runtime that cannot run here says why and cannot start
        at.selectbox(key="dd_backend").set_value("cuda-fp16").run()
        assert any("needs a CUDA GPU" in e.value for e in at.error)
        assert at.button(key="dd_start").disabled
    at.selectbox(key="dd_backend").set_value("torch").run()
    at.selectbox(key="dd_search").set_value("exact").run()
    at.button(key="dd_start").click().run()
    job = _wait(int(at.session_state["dd_job"]), seconds=300)  # loads the real model
    assert job["status"] == "succeeded", job
    assert (job["params"]["embedding_backend"], job["params"]["embedding_search"]) == ("torch", "exact")
    assert job["result"]["embedding_backend"] == "torch" and job["result"]["embedded"] == len(ROWS)
    at.run()
    shown = [m.value for m in [*at.success, *at.info]]
    assert any("6 rows embedded with torch" in m for m in shown), shown


SORT_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "code_alpaca_sort.json"


def _sort_rows() -> list[dict]:
    """25 'Sort these numbers in ascending order.' rows with different inputs and outputs, then one 'Sort an
    array of numbers in ascending order.' (ROUGE-L 0.714 on instructions alone): the Code Alpaca case."""
    return json.loads(SORT_FIXTURE.read_text())


def test_rows_with_inputs_default_to_instruction_plus_input_and_find_no_duplicates() -> None:
    examples.add_examples(_store(), pd.DataFrame(_sort_rows()), examples.SourceInfo(name="code", format="test"))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert at.selectbox(key="dd_scope").value == "instruction_input"
    assert any(c.value.startswith("25 of 26 rows to compare have an input") for c in at.caption)
    at.button(key="dd_start").click().run()
    job = _wait(int(at.session_state["dd_job"]))
    assert job["status"] == "succeeded" and job["result"]["pairs"] == 0, job


def test_a_cluster_whose_members_differ_in_input_warns_and_shows_input_and_output() -> None:
    rows = _sort_rows()
    examples.add_examples(_store(), pd.DataFrame(rows), examples.SourceInfo(name="code", format="test"))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.selectbox(key="dd_scope").set_value("instruction").run()
    at.button(key="dd_start").click().run()
    job = _wait(int(at.session_state["dd_job"]))
    assert job["status"] == "succeeded" and job["result"]["clusters"] == 1 and job["result"]["duplicates"] == 25
    at.run()
    warning = next(w.value for w in at.warning if "differ in input" in w.value)
    assert warning.startswith("The members of this cluster differ in input (26 different inputs)")
    assert "run again comparing instruction + input" in warning
    cards = [card_fields(h.proto.body) for h in at.get("html")]
    assert len(cards) == 12  # MAX_SIDE_BY_SIDE
    # the unrelated row is kept (longer output) and the 25 would be its duplicates: the Code Alpaca case
    assert cards[0] == {"instruction": rows[25]["instruction"], "input": "", "output": rows[25]["output"]}
    assert cards[1] == {"instruction": rows[0]["instruction"], "input": rows[0]["input"], "output": rows[0]["output"]}
    second = at.get("html")[1].proto.body
    assert '<mark style="padding:0;margin:0">ascending</mark>' in second
    assert '<mark style="padding:0;margin:0">these</mark>' not in second  # not in the kept instruction
