"""Filters page: the generic operation panel runs an operation as a job, shows what it would change, applies it as
one action and undoes it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from operation_support import ROWS
from streamlit.testing.v1 import AppTest

from curation.store import Store, examples, jobs_table

PAGE = Path(__file__).resolve().parents[2] / "pages" / "13_Filters.py"


def _wait(store: Store, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = jobs_table.list_jobs(store, ["signals"], 1)
        if not jobs.empty and jobs["status"].iloc[0] in jobs_table.FINISHED:
            return jobs.iloc[0].to_dict()
        time.sleep(0.1)
    raise AssertionError("signals job did not finish")


def test_run_preview_apply_and_undo_an_operation() -> None:
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    examples.add_examples(store, pd.DataFrame(ROWS), examples.SourceInfo(name="s", format="test"))
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception
    at.selectbox(key="ops_op").set_value("test-size").run()
    assert "4 rows of the filter (all rows) need scoring." in [c.value for c in at.caption]
    at.button(key="ops_run").click().run()
    assert _wait(store)["status"] == "succeeded"
    at.run()
    changes = at.dataframe[0].value
    assert dict(zip(changes["change"], changes["rows"], strict=True)) == {"rejected": 2, "+tag:long": 2}
    assert [e.label for e in at.expander if e.label.startswith("Samples")] == [
        "Samples: rejected (2 rows)",
        "Samples: +tag:long (2 rows)",
    ]
    at.button(key="ops_apply").click().run()
    assert "rows changed" in at.success[0].value
    assert examples.fetch(store, None, ("id", "status"))["status"].tolist() == [
        "pending",
        "rejected",
        "rejected",
        "pending",
    ]
    assert "Applying now would change nothing." in [c.value for c in at.caption]
    action_id = int(store.query_value("SELECT max(id) FROM actions WHERE kind = 'operation'"))
    at.button(key=f"ops_actions_undo_{action_id}").click().run()
    assert set(examples.fetch(store, None, ("status",))["status"]) == {"pending"}
    assert not at.exception
    store.close()


def test_the_shared_sidebar_filters_browse_by_a_signal() -> None:
    from curation.operations import run

    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    examples.add_examples(store, pd.DataFrame(ROWS), examples.SourceInfo(name="s", format="test"))
    run.score_filtered(store, "test-size")
    store.close()
    at = AppTest.from_file(str(PAGE.parent / "1_Browse.py"), default_timeout=60).run()
    assert at.dataframe[0].value["id"].tolist() == [1, 2, 3, 4]
    at.selectbox(key="filter_w_signal").set_value("test-size@chars").run()
    at.multiselect(key="filter_w_signal_labels").select("long").run()
    assert at.dataframe[0].value["id"].tolist() == [2, 3]
    at.multiselect(key="filter_w_signal_labels").unselect("long").run()
    at.number_input(key="filter_w_signal_max").set_value(0.03).run()
    assert at.dataframe[0].value["id"].tolist() == [4]
    assert not at.exception
