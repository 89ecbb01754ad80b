"""Dedup page: run ROUGE-L as a job, review a cluster (highlighted shared tokens), change the kept row, split,
accept, apply, undo; contamination check from pasted rows."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from curation.store import Store, examples, jobs_table

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


def _wait(job_id: int) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = jobs_table.get(_store(), job_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def _button(at: AppTest, label_start: str):
    return next(b for b in at.button if b.label.startswith(label_start))


def _started_run(at: AppTest) -> AppTest:
    examples.add_examples(_store(), pd.DataFrame(ROWS), examples.SourceInfo(name="page", format="test"))
    at.run()
    at.number_input(key="dd_threshold_rouge").set_value(0.8).run()
    at.button(key="dd_start").click().run()
    job = _wait(int(at.session_state["dd_job"]))
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
    poem = [m.value for m in at.markdown if ":orange-background[" in m.value]
    assert any("\\<b\\>" in m and ":orange-background[POEM]" in m for m in poem)  # escaped user text, highlights
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


def test_embedding_method_says_which_runtime_and_search_run(monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_EMBEDDING_BACKEND", "onnx")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    at.radio(key="dd_method").set_value("embedding").run()
    assert not at.exception, at.exception
    text = " ".join(c.value for c in at.caption)
    assert "Embeddings run on **onnx** in this process" in text
    assert "exact up to 150,000 rows, then a faiss index" in text
