"""The drop-report panel on each page that shows it (Overview, Dedup, CoT, Generate → Quality ratings) and the
Mixture page's Compare snapshots tab, driven with AppTest on a small store with known decisions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from drop_support import build_store, dedup, reject_below_3
from streamlit.testing.v1 import AppTest

from curation.dedup import runs
from curation.mixture import export as mixture_export
from curation.mixture.plan import MixConfig
from curation.store import Store, revisions
from curation.store import cot as cot_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGES = ROOT / "pages"


def db_store(make_store) -> Store:
    path = Path(os.environ["INSTRUCT_CURATOR_DB"])
    return build_store(lambda rows, source: make_store(rows, source, path=path))


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_overview_recent_changes_open_a_drop_report(make_store) -> None:
    store = db_store(make_store)
    dedup(store)
    reject_below_3(store)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert [e.label for e in at.expander].count("What did it change?") == 2
    assert "Rows changed" not in metrics(at)  # closed expanders compute nothing
    at.session_state["overview_actions_what_1_open"] = True
    at.run()
    assert not at.exception, at.exception
    assert metrics(at)["Rows changed"] == "3" and metrics(at)["status → duplicate"] == "3"
    tables = {tuple(df.value.columns): df.value for df in at.dataframe}
    breakdown = tables[("value", "decision", "rows")]
    assert dict(zip(breakdown["value"], breakdown["rows"], strict=True)) == {"alpha": 2, "beta": 1}
    shares = tables[("value", "before", "after")]
    assert shares.values.tolist() == [["alpha", "6 (75.0%)", "4 (80.0%)"], ["beta", "2 (25.0%)", "1 (20.0%)"]]
    samples = tables[("id", "instruction", "reason", "score")]
    assert samples["id"].tolist() == [2, 4, 7]
    assert any("similarity to the kept row (dedup run 1)" in c.value for c in at.caption)
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert {s["encoding"]["y"]["title"] for s in specs} >= {"Source", "rows"}
    at.radio(key="overview_actions_what_1_dim").set_value("task").run()
    breakdown = next(df.value for df in at.dataframe if tuple(df.value.columns) == ("value", "decision", "rows"))
    assert dict(zip(breakdown["value"], breakdown["rows"], strict=True)) == {"math": 1, "qa": 2}


def test_dedup_page_shows_what_the_apply_removed(make_store) -> None:
    store = db_store(make_store)
    runs.run_dedup(store, runs.DedupConfig(threshold=0.7), author="t")
    at = page("7_Dedup.py")
    at.button(key="dd_accept_all").click().run()
    at.button(key="dd_apply").click().run()
    assert not at.exception, at.exception
    assert "What did it remove? (action #1)" in [e.label for e in at.expander]
    assert metrics(at)["status → duplicate"] == "3"  # opened right after the apply


def test_cot_page_reports_the_last_cot_tagging(make_store) -> None:
    store = db_store(make_store)
    scores = {"example_id": [5, 6], "score": [0.9, 0.4], "signals": ["[]", "[]"], "example_version": [1, 1]}
    cot_store.save_scores(store, pd.DataFrame(scores))
    action = revisions.set_tag(store, "cot", True, author="t", ids=[5, 6], kind="cot-manual").action_id
    at = page("8_CoT.py")
    label = f"What did the last CoT tagging change? (action #{action})"
    assert label in [e.label for e in at.expander]
    at.session_state[f"cot_report_{action}_open"] = True
    at.run()
    assert metrics(at)["tag cot added"] == "2"
    assert any("CoT detector score" in c.value for c in at.caption)


def test_generate_ratings_tab_reports_the_last_reject_below(make_store) -> None:
    store = db_store(make_store)
    action = reject_below_3(store)
    at = page("6_Generate.py")
    assert f"What did the last reject-below remove? (action #{action})" in [e.label for e in at.expander]
    at.session_state[f"judge_report_{action}_open"] = True
    at.run()
    assert not at.exception, at.exception
    assert metrics(at)["status → rejected"] == "3"
    assert any("judge rating (accuracy)" in c.value for c in at.caption)


def test_mixture_compare_tab_lists_changes_per_operation(make_store) -> None:
    store = db_store(make_store)
    config = MixConfig(name="before", statuses=["pending", "approved"])
    mixture_export.export(store, config)
    dedup(store)
    mixture_export.export(store, MixConfig.from_dict(config.to_dict() | {"name": "after"}))
    at = page("9_Mixture.py")
    assert "Rows removed" not in metrics(at)  # the Compare tab runs only when chosen
    at.session_state["mix_tab"] = "Compare snapshots"
    at.run()
    assert not at.exception, at.exception
    assert metrics(at)["Rows removed"] == "3" and metrics(at)["Rows added"] == "0"
    ops = next(df.value for df in at.dataframe if "operation" in df.value.columns)
    assert ops[["operation", "removed"]].values.tolist() == [["#1 dedup", 3]]
    rows = next(df.value for df in at.dataframe if "example_id" in df.value.columns)
    assert rows["example_id"].tolist() == [2, 4, 7] and set(rows["action"]) == {"#1 dedup"}
    assert any("B was shaped by" in m.value for m in at.markdown)
    shown = [m.value.replace("\\", "") for m in at.markdown]  # markdown escapes dropped, as a browser shows it
    assert "- #1 dedup run 1 (rouge, instruction, threshold 0.7, keep ge): status → duplicate 3 rows" in shown
    at.session_state["mix_tab"] = "Mix and export"
    at.run()
    assert any("Decisions that shaped it" in m.value for m in at.markdown) and "Rows removed" not in metrics(at)
