"""CoT page: signal explanations, export-format previews and the rationale check; Mixture page: CoT format
shares per group (the same CoT rows in both CoT and direct format)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from curation.mixture import snapshot
from curation.store import Store, examples, jobs_table

PAGES = Path(__file__).resolve().parents[2] / "pages"


def _fill(rows: list[dict]) -> None:
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    try:
        examples.add_examples(store, pd.DataFrame(rows), examples.SourceInfo(name="s", format="test"))
    finally:
        store.close()


def _wait(kind: str) -> dict:
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = jobs_table.list_jobs(store, [kind], 1)
        if not jobs.empty and jobs["status"].iloc[0] in jobs_table.FINISHED:
            return jobs.iloc[0].to_dict()
        time.sleep(0.1)
    raise AssertionError(f"{kind} job did not finish")


def _frame_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_cot_page_explains_signals_previews_formats_and_checks_answers() -> None:
    _fill(
        [
            {"instruction": "What is 6 * 7?", "output": "<think>\n6 * 7 = 41. So the answer is 41.\n</think>\n\n42"},
            {"instruction": "Write a poem about rain.", "output": "Rain taps the glass,\nsoft and slow."},
        ]
    )
    at = AppTest.from_file(str(PAGES / "8_CoT.py"), default_timeout=60).run()
    at.button(key="cot_run").click().run()
    assert _wait("cot-tag")["status"] == "succeeded"
    at.run()
    signals = _frame_with(at, "why")
    assert "reasoning_trace" in signals["name"].tolist()
    assert signals.set_index("name").loc["reasoning_trace", "effect"] == "raises the score"
    assert any("41" in c.value and "42" in c.value for c in at.code)  # the think / cot previews
    assert "The rationale concludes '41' but the answer is '42'." in [w.value for w in at.warning]
    at.button(key="cot_check").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["With a rationale"] == "1" and metrics["Answer conflicts"] == "1"
    assert _frame_with(at, "rationale_concludes").to_dict("records") == [
        {"id": 1, "answer": "42", "rationale_concludes": "41"}
    ]
    at.button(key="cot_tag_conflicts").click().run()
    assert "Tagged 1 rows 'answer-conflict'" in at.success[0].value
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    assert store.query_rows("SELECT example_id FROM example_tags WHERE tag = 'answer-conflict'") == [(1,)]
    store.close()
    assert not at.exception


def test_mixture_page_both_formats_for_a_group() -> None:
    rows = [
        {
            "instruction": f"What is {i} + {i}?",
            "output": f"{i} + {i} = {2 * i}. So the answer is {2 * i}.",
            "task": "math",
            "status": "approved",
            "tags": ["cot"],
        }
        for i in range(1, 7)
    ]
    _fill([*rows, {"instruction": "Hi", "output": "Hello!", "task": "chat", "status": "approved"}])
    at = AppTest.from_file(str(PAGES / "9_Mixture.py"), default_timeout=60).run()
    at.selectbox(key="mix_group_by").set_value("task").run()
    edit = {"edited_rows": {0: {"cot": 0.5, "direct": 0.5}}, "added_rows": [], "deleted_rows": []}
    at.session_state["mix_formats_task"] = edit
    at.number_input(key="mix_total").set_value(14).run()  # 12 math (6 CoT rows twice) + 2 chat
    takes = _frame_with(at, "format")
    assert takes.values.tolist() == [["math", "cot", 6], ["math", "direct", 6]]
    at.button(key="mix_export").click().run()
    assert _wait("mix-export")["status"] == "succeeded"
    train, _, manifest = snapshot.load_snapshot(snapshot.list_snapshots()[0]["path"])
    math = train[train["group"] == "math"]
    assert sorted(math.loc[math["output"].str.len() <= 2, "id"]) == [1, 2, 3, 4, 5, 6]  # direct: answers only
    assert manifest["cot_formats"] == {"math": {"cot": 0.5, "direct": 0.5}}
    assert not at.exception
