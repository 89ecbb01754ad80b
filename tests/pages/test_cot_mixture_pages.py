"""CoT and Mixture pages: run the detector, tag by hand, set a cap and a CoT share, export, see the snapshot."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from curation.mixture import snapshot
from curation.store import Store, examples, jobs_table

PAGES = Path(__file__).resolve().parents[2] / "pages"
COT = "Tom has 3 * 4 = 12 apples. He eats 2, so 12 - 2 = 10 remain. So the answer is 10."


def _fill(rows: list[dict]) -> None:
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    try:
        for source, group in pd.DataFrame(rows).groupby("source"):
            frame = group.drop(columns="source").reset_index(drop=True)
            examples.add_examples(store, frame, examples.SourceInfo(name=str(source), format="test"))
    finally:
        store.close()


def _wait_for_job(store: Store, kind: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = jobs_table.list_jobs(store, [kind], 1)
        if not jobs.empty and jobs["status"].iloc[0] in jobs_table.FINISHED:
            return jobs.iloc[0].to_dict()
        time.sleep(0.1)
    raise AssertionError(f"{kind} job did not finish")


def _tags(store: Store) -> dict[int, str]:
    return dict(store.query_rows("SELECT example_id, source FROM example_tags WHERE tag = 'cot' ORDER BY 1"))


@pytest.fixture
def cot_rows() -> None:
    rows = [{"source": "s", "instruction": f"How many apples, case {i}?", "output": COT} for i in range(4)]
    rows += [{"source": "s", "instruction": f"Name colour {i}.", "output": f"Colour {i} is blue."} for i in range(4)]
    _fill(rows)


def test_cot_page_runs_the_detector_and_manual_decisions_win(cot_rows: None) -> None:
    at = AppTest.from_file(str(PAGES / "8_CoT.py"), default_timeout=60).run()
    assert not at.exception
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    at.button(key="cot_run").click().run()
    assert _wait_for_job(store, "cot-tag")["status"] == "succeeded"
    assert _tags(store) == {1: "auto", 2: "auto", 3: "auto", 4: "auto"}
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Scored"] == "8" and metrics["Tagged cot"] == "4"
    runs = next(t.value for t in at.text if "cot-tag:" in t.value)  # the detector run is among the decisions
    assert re.match(r"job #\d+ cot-tag: 4 rows auto-tagged at threshold [\d.]+, 8 rows scored · ", runs), runs
    assert not at.multiselect(key="cot_marked").proto.select_all  # no "Select all" option
    at.multiselect(key="cot_marked").select(1).select(2).run()
    at.button(key="cot_mark_no").click().run()
    assert "Marked 2 rows as not cot" in at.success[0].value
    assert _tags(store) == {3: "auto", 4: "auto"}
    at.slider(key="cot_threshold").set_value(1.0).run()
    at.button(key="cot_apply").click().run()
    assert _tags(store) == {}  # no row scores 1.0; the manual decisions stay as they are
    at.button(key="cot_bulk_yes").click().run()
    assert "Mark 8 rows as CoT by hand?" in at.warning[0].value
    at.button(key="cot_confirm_yes").click().run()
    assert _tags(store) == {i: "manual" for i in range(1, 9)}
    assert not at.exception


@pytest.fixture
def mix_rows() -> None:
    rows = [
        {"source": "big", "instruction": f"Plain {i}?", "output": "Plain.", "status": "approved"} for i in range(100)
    ]
    rows += [
        {"source": "cot", "instruction": f"Apples {i}?", "output": COT, "status": "approved", "tags": ["cot"]}
        for i in range(10)
    ]
    rows += [{"source": "big", "instruction": "Pending?", "output": "No.", "status": "pending"}]
    _fill(rows)


def _frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe on the page that has `column` (st.dataframe keys are not exposed to AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_mixture_page_cap_and_cot_share_change_the_preview_then_export(mix_rows: None) -> None:
    at = AppTest.from_file(str(PAGES / "9_Mixture.py"), default_timeout=60).run()
    assert not at.exception
    assert _metrics(at)["Train rows"] == "110" and _metrics(at)["CoT share"] == "9.1%"
    at.number_input(key="mix_cap").set_value(20).run()
    assert _metrics(at)["Train rows"] == "30"
    table = _frame_with(at, "epochs")
    assert table[["group", "before", "after"]].values.tolist() == [["big", 100, 20], ["cot", 10, 10]]
    at.checkbox(key="mix_use_cot_share").check().run()
    at.slider(key="mix_cot_share").set_value(0.5).run()
    assert _metrics(at)["Train rows"] == "30" and _metrics(at)["CoT share"] == "50.0%"
    table = _frame_with(at, "epochs")
    assert table[["group", "after", "epochs"]].values.tolist() == [["big", 15, "0.15"], ["cot", 15, "1.50"]]
    assert [w.value for w in at.warning] == []
    at.number_input(key="mix_min_fraction").set_value(0.2).run()
    shown = [w.value for w in at.warning]
    assert shown == ["group 'big' keeps 15\\.0% of its rows \\(\\< 20%\\)"]  # escaped: user text stays inert
    at.button(key="mix_export").click().run()
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    job = _wait_for_job(store, "mix-export")
    assert job["status"] == "succeeded", job
    at.run()
    found = snapshot.list_snapshots()
    assert len(found) == 1 and found[0]["counts"] == {"train": 30, "heldout": 0}
    assert found[0]["params"]["cap"] == 20 and found[0]["params"]["cot_share"] == 0.5
    listed = _frame_with(at, "content_hash")
    assert listed["path"].tolist() == [found[0]["path"]] and listed["train"].tolist() == [30]
    train, _, _ = snapshot.load_snapshot(found[0]["path"])
    assert int(train["cot"].sum()) == 15 and set(train["source"]) == {"big", "cot"}
    assert not at.exception


def test_mixture_page_shows_bad_settings_as_an_error(mix_rows: None) -> None:
    at = AppTest.from_file(str(PAGES / "9_Mixture.py"), default_timeout=60).run()
    at.text_input(key="mix_name").set_value("bad name!").run()
    assert "snapshot name" in at.error[0].value


def test_mixture_page_weights_editor_sets_group_shares(mix_rows: None) -> None:
    at = AppTest.from_file(str(PAGES / "9_Mixture.py"), default_timeout=60).run()
    at.session_state["mix_weights_source"] = {"edited_rows": {1: {"weight": 0.5}}, "added_rows": [], "deleted_rows": []}
    at.run()
    table = _frame_with(at, "epochs")
    # 'cot' (row 1 of the editor) gets half of the natural 110 rows; 'big' the other half
    assert table[["group", "after", "share"]].values.tolist() == [["big", 55, "50.0%"], ["cot", 55, "50.0%"]]
    assert "weights(cot=0.5)" in at.text[0].value


def test_mixture_page_holds_out_whole_instructions_or_tasks_and_reports_the_overlap() -> None:
    _fill(
        [
            {
                "source": "si",
                "instruction": f"Seed task {t}.",
                "input": f"case {k}",
                "task": f"t{t}",
                "status": "approved",
            }
            for t in range(40)
            for k in range(5)
        ]
    )
    at = AppTest.from_file(str(PAGES / "9_Mixture.py"), default_timeout=60).run()
    at.radio(key="mix_heldout").set_value("fraction").run()
    at.slider(key="mix_heldout_fraction").set_value(0.2).run()
    at.radio(key="mix_heldout_by").set_value("task").run()
    assert _metrics(at)["Held-out rows"] == "40" and _metrics(at)["Train rows"] == "160"
    assert "Held-out overlap with train: 0 instructions, 0 tasks" in [t.value for t in at.text]
    at.button(key="mix_export").click().run()
    assert _wait_for_job(Store(os.environ["INSTRUCT_CURATOR_DB"]), "mix-export")["status"] == "succeeded"
    manifest = snapshot.list_snapshots()[0]
    assert manifest["params"]["heldout_by"] == "task"
    assert manifest["heldout_overlap"] == {"by": "task", "instructions": 0, "tasks": 0}
    assert not at.exception
