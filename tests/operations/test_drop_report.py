"""Drop reports: exact counts per decision and dimension, scores, samples and mixture shares before/after an action,
for a dedup apply, a judge reject-below, a CoT tagging and a later review (the report describes the action as it was
then, even after later actions touched its rows)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from drop_support import build_store, dedup, reject_below_3
from typer.testing import CliRunner

from curation import cli
from curation.dedup import runs
from curation.operations import report
from curation.store import cot as cot_store
from curation.store import ratings as ratings_table
from curation.store import revisions


def breakdown(rep: report.DropReport, dim: str) -> dict[str, int]:
    part = rep.breakdown[rep.breakdown["dimension"] == dim]
    return {f"{v}|{d}": int(n) for v, d, n in zip(part["value"], part["decision"], part["rows"], strict=True)}


def shares(rep: report.DropReport, dim: str) -> dict[str, tuple[int, int]]:
    part = rep.shares[rep.shares["dimension"] == dim]
    return {v: (int(b), int(a)) for v, b, a in zip(part["value"], part["before"], part["after"], strict=True)}


def test_dedup_apply_report_counts_scores_samples_and_shares(make_store) -> None:
    store = build_store(make_store)
    action_id = dedup(store)
    rep = report.drop_report(store, action_id, samples=2)
    assert rep.action["kind"] == "dedup" and rep.action["params"] == {"run_id": 1} and rep.rows == 3
    assert rep.decisions == {"status → duplicate": 3}
    assert breakdown(rep, "source") == {"alpha|status → duplicate": 2, "beta|status → duplicate": 1}
    assert breakdown(rep, "task") == {"math|status → duplicate": 1, "qa|status → duplicate": 2}
    assert breakdown(rep, "origin") == {"generated|status → duplicate": 1, "imported|status → duplicate": 2}
    assert breakdown(rep, "format") == {"(none)|status → duplicate": 3}
    assert rep.score_label == "similarity to the kept row (dedup run 1)"
    assert dict(zip(rep.scores["example_id"], rep.scores["score"].round(4), strict=True)) == {
        2: 0.8333,
        4: 0.9231,
        7: 0.8333,
    }
    assert rep.histogram["rows"].sum() == 3
    assert rep.histogram["rows"].iloc[0] == 2 and rep.histogram["rows"].iloc[-1] == 1
    assert [s["id"] for s in rep.samples["status → duplicate"]] == [2, 4]
    assert rep.samples["status → duplicate"][0]["reason"].startswith("dedup run 1: duplicate of #1, score 0.833333")
    # 8 eligible rows before (all pending), 5 after
    assert shares(rep, "source") == {"alpha": (6, 4), "beta": (2, 1)}
    assert shares(rep, "task") == {"qa": (4, 2), "math": (3, 2), "(none)": (1, 1)}
    alpha = rep.shares[(rep.shares["dimension"] == "source") & (rep.shares["value"] == "alpha")].iloc[0]
    assert (alpha["before_share"], alpha["after_share"]) == (0.75, 0.8)
    assert report.resolve_action(store, dedup_run=1) == action_id


def test_judge_reject_report_uses_the_rubric_ratings(make_store) -> None:
    store = build_store(make_store)
    dedup(store)
    action_id = reject_below_3(store)
    rep = report.drop_report(store, action_id)
    recorded = rep.action["params"]
    assert recorded["operation"] == "judge" and recorded["variant"] == "accuracy"
    assert recorded["params"]["threshold"] == 3.0
    assert rep.decisions == {"status → rejected": 3}
    assert breakdown(rep, "source") == {"alpha|status → rejected": 2, "beta|status → rejected": 1}
    assert rep.score_label == "judge rating (accuracy)"
    assert dict(zip(rep.scores["example_id"], rep.scores["score"], strict=True)) == {3: 2.0, 5: 1.0, 8: 2.5}
    assert [s["reason"] for s in rep.samples["status → rejected"]] == ["rating below 3 (accuracy)"] * 3
    # before: what the dedup left eligible (1, 3, 5, 6 of alpha; 8 of beta); after: 1 and 6
    assert shares(rep, "source") == {"alpha": (4, 2), "beta": (1, 0)}


def test_rubric_is_read_from_the_description_of_older_reject_actions(make_store) -> None:
    store = build_store(make_store)
    ratings_table.save_ratings(store, "tone", [(1, 1.0, "x"), (2, 4.0, "y")], "m", 1)
    result = revisions.set_status(
        store, "rejected", author="t", ids=[1], kind="rating-reject",
        description="rejected 1 rows rated below 2 under rubric 'tone'",
    )  # fmt: skip
    rep = report.drop_report(store, int(result.action_id))
    assert rep.score_label == "judge rating (tone)" and rep.scores["score"].tolist() == [1.0]


def test_report_describes_the_action_as_it_was_after_later_changes(make_store) -> None:
    store = build_store(make_store)
    action_id = dedup(store)
    reject_below_3(store)
    revisions.set_status(store, "approved", author="t", ids=[2, 4], reason="not a duplicate after all")
    rep = report.drop_report(store, action_id)
    assert rep.decisions == {"status → duplicate": 3}
    assert shares(rep, "source") == {"alpha": (6, 4), "beta": (2, 1)}
    assert rep.samples["status → duplicate"][0]["reason"].startswith("dedup run 1: duplicate of #1")


def test_undone_action_is_reported_as_undone_with_its_decisions(make_store) -> None:
    store = build_store(make_store)
    action_id = dedup(store)
    revisions.undo_action(store, action_id, author="t")
    rep = report.drop_report(store, action_id)
    assert rep.action["undone"] is True and rep.decisions == {"status → duplicate": 3}
    undo = report.drop_report(store, action_id + 1)
    assert undo.decisions == {"status → pending": 3}
    assert shares(undo, "source") == {"alpha": (4, 6), "beta": (1, 2)}


def test_cot_tagging_report_has_tag_decisions_and_detector_scores(make_store) -> None:
    store = build_store(make_store)
    cot_store.save_scores(
        store,
        pd.DataFrame({"example_id": [5, 6], "score": [0.9, 0.4], "signals": ["[]", "[]"], "example_version": [1, 1]}),
    )
    revisions.update_example(store, 5, {"format": "cot"}, expected_version=1, author="t")
    action = revisions.set_tag(store, "cot", True, author="t", ids=[5, 6], kind="cot-manual")
    rep = report.drop_report(store, int(action.action_id))
    assert rep.decisions == {"tag cot added": 2}
    assert breakdown(rep, "format") == {"(none)|tag cot added": 1, "cot|tag cot added": 1}
    assert rep.score_label == "CoT detector score"
    assert dict(zip(rep.scores["example_id"], rep.scores["score"], strict=True)) == {5: 0.9, 6: 0.4}
    assert shares(rep, "source") == {"alpha": (6, 6), "beta": (2, 2)}  # tags leave the status alone
    assert [s["reason"] for s in rep.samples["tag cot added"]] == ["manual", "manual"]
    auto = pd.DataFrame(
        {"example_id": [7], "field": ["tag:cot"], "new_value": ["1"], "new_meta": ['{"source": "auto", "score": 0.8}']}
    )
    auto_action = revisions.apply_changes(store, auto, kind="cot-threshold", author="t").action_id
    assert report.drop_report(store, int(auto_action)).samples["tag cot added"][0]["reason"] == "auto, score 0.8"


def test_edit_report_and_json_shape(make_store) -> None:
    store = build_store(make_store)
    revisions.update_example(store, 1, {"output": "new", "status": "rejected"}, expected_version=1, author="t")
    rep = report.drop_report(store, 1)
    assert rep.decisions == {"edited output": 1, "status → rejected": 1}
    data = rep.to_dict()
    assert data["rows"] == 1 and data["score_label"] is None and data["histogram"] == []
    assert {r["value"]: (r["before"], r["after"]) for r in data["shares"] if r["dimension"] == "source"} == {
        "alpha": (6, 5), "beta": (2, 2)
    }  # fmt: skip


def test_unknown_action_and_unapplied_run_are_refused(make_store) -> None:
    store = build_store(make_store)
    with pytest.raises(KeyError, match="action 42 does not exist"):
        report.drop_report(store, 42)
    runs.run_dedup(store, runs.DedupConfig(threshold=0.7), author="t")
    with pytest.raises(ValueError, match="dedup run 1 was never applied"):
        report.resolve_action(store, dedup_run=1)


def test_report_cli_json_text_and_dedup_run(make_store, tmp_path) -> None:
    db = tmp_path / "cli.duckdb"
    store = build_store(lambda rows, source: make_store(rows, source, path=db))
    dedup(store)
    reject_below_3(store)
    store.close()
    runner = CliRunner()
    out = runner.invoke(cli.app, ["--db", str(db), "report", "2", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["decisions"] == {"status → rejected": 3} and data["score_label"] == "judge rating (accuracy)"
    assert [s["id"] for s in data["samples"]["status → rejected"]] == [3, 5, 8]
    by_run = json.loads(runner.invoke(cli.app, ["--db", str(db), "report", "--dedup-run", "1", "--json"]).output)
    assert by_run["action"]["id"] == 1 and by_run["decisions"] == {"status → duplicate": 3}
    text = runner.invoke(cli.app, ["--db", str(db), "actions", "show", "1"])
    assert text.exit_code == 0, text.output
    assert "3 rows changed" in text.output and "similarity to the kept row (dedup run 1)" in text.output
    assert "#2 [score 0.833]" in text.output and "6 (75.0%)  4 (80.0%)" in text.output
    by_kind = json.loads(runner.invoke(cli.app, ["--db", str(db), "report", "--run", "dedup", "1", "--json"]).output)
    assert by_kind["action"]["id"] == 1
    both = runner.invoke(cli.app, ["--db", str(db), "report", "1", "--dedup-run", "1"])
    assert both.exit_code == 1 and "give one of" in both.output
    none = runner.invoke(cli.app, ["--db", str(db), "report", "--run", "lang", "7"])
    assert none.exit_code == 1 and "no 'lang' action names run 7" in none.output
