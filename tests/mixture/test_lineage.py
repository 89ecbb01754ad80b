"""Snapshot lineage in the manifest and `mix diff`: which actions shaped a snapshot, and which action is responsible
for each row added, removed or changed between two snapshots (exact ids and counts on a small store)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
from drop_support import build_store, dedup, reject_below_3
from typer.testing import CliRunner

from curation import cli
from curation.mixture import export as mixture_export
from curation.mixture import lineage
from curation.mixture.plan import MixConfig
from curation.store import examples, revisions

CONFIG = MixConfig(name="mix", statuses=["pending", "approved"])


def export(store, root: Path, name: str = "mix") -> Path:
    return mixture_export.export(store, MixConfig.from_dict(CONFIG.to_dict() | {"name": name}), root)


def test_manifest_lineage_names_the_decisions_in_effect(make_store, tmp_path: Path) -> None:
    store = build_store(make_store)
    dedup_id = dedup(store)
    reject_id = reject_below_3(store)
    undone = revisions.set_status(store, "rejected", author="t", ids=[6], reason="typo").action_id
    revisions.undo_action(store, undone, author="t")
    folder = export(store, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    found = manifest["lineage"]
    assert found["as_of_action"] == 4 and found["omitted"] == {}
    assert [(a["id"], a["kind"]) for a in found["actions"]] == [(dedup_id, "dedup"), (reject_id, "rating-reject")]
    first, second = found["actions"]
    assert first["decisions"] == {"status → duplicate": 3} and first["rows"] == 3
    assert first["params"] == {"run_id": 1}
    assert first["run"] == "dedup run 1 (rouge, instruction, threshold 0.7, keep ge)"
    assert first["rows_in_snapshot"] == 0  # the rows it marked are out of this snapshot
    assert second["decisions"] == {"status → rejected": 3}
    assert second["params"]["operation"] == "judge" and second["params"]["variant"] == "accuracy"
    assert second["params"]["params"]["threshold"] == 3.0
    assert (
        lineage.describe(first)
        == "#1 dedup run 1 (rouge, instruction, threshold 0.7, keep ge): status → duplicate 3 rows"
    )
    assert manifest["counts"] == {"train": 2, "heldout": 0}  # rows 1 and 6 remain


def test_lineage_keeps_snapshots_byte_identical(make_store, tmp_path: Path) -> None:
    store = build_store(make_store)
    dedup(store)
    first = export(store, tmp_path / "a")
    second = export(store, tmp_path / "b")
    for name in ("manifest.json", "train.jsonl", "train.parquet"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_diff_names_the_action_responsible_for_each_row(make_store, tmp_path: Path) -> None:
    store = build_store(make_store)
    before = export(store, tmp_path, "before")
    dedup_id = dedup(store)
    reject_id = reject_below_3(store)
    edit = revisions.update_example(store, 6, {"instruction": "cats, again"}, expected_version=1, author="t")
    assert edit == 2
    examples.add_examples(store, pd.DataFrame({"instruction": ["brand new"]}), examples.SourceInfo("gamma", "test"))
    after = export(store, tmp_path, "after")
    diff = lineage.diff_snapshots(before, after, store)
    assert diff.counts() == {"added": 1, "removed": 6, "changed": 1}
    rows = {
        int(r.example_id): (r.change, r.action_id if pd.notna(r.action_id) else None) for r in diff.rows.itertuples()
    }
    assert rows == {
        2: ("removed", dedup_id), 4: ("removed", dedup_id), 7: ("removed", dedup_id),
        3: ("removed", reject_id), 5: ("removed", reject_id), 8: ("removed", reject_id),
        6: ("changed", 3), 9: ("added", None),
    }  # fmt: skip
    changed = diff.rows[diff.rows["change"] == "changed"].iloc[0]
    assert changed["fields"] == ["instruction"] and changed["instruction"] == "cats, again"
    per_op = {(r.action_id if pd.notna(r.action_id) else None): (r.added, r.removed, r.changed)
              for r in diff.by_operation.itertuples()}  # fmt: skip
    assert per_op == {dedup_id: (0, 3, 0), reject_id: (0, 3, 0), 3: (0, 0, 1), None: (1, 0, 0)}
    assert diff.a["as_of_action"] == 0 and diff.b["as_of_action"] == 3
    # reversed, the same actions explain the opposite changes
    back = lineage.diff_snapshots(after, before, store)
    assert back.counts() == {"added": 6, "removed": 1, "changed": 1}


def test_removal_is_blamed_on_the_status_change_not_a_later_tag(make_store, tmp_path: Path) -> None:
    store = build_store(make_store)
    before = export(store, tmp_path, "before")
    reject = revisions.set_status(store, "rejected", author="t", ids=[5]).action_id
    revisions.set_tag(store, "checked", True, author="t", ids=[5])
    after = export(store, tmp_path, "after")
    diff = lineage.diff_snapshots(before, after, store)
    assert diff.rows[["example_id", "change", "action_id"]].values.tolist() == [[5, "removed", reject]]


def test_diff_without_a_store_lists_changes_only(make_store, tmp_path: Path) -> None:
    store = build_store(make_store)
    before = export(store, tmp_path, "before")
    dedup(store)
    after = export(store, tmp_path, "after")
    diff = lineage.diff_snapshots(before, after)
    assert diff.counts() == {"added": 0, "removed": 3, "changed": 0}
    assert diff.rows["action_id"].isna().all()
    assert diff.by_operation["description"].tolist() == [lineage.NO_ACTION]


def test_mix_diff_cli_json_and_text(make_store, tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    store = build_store(lambda rows, source: make_store(rows, source, path=db))
    before = export(store, tmp_path / "snaps", "before")
    dedup(store)
    after = export(store, tmp_path / "snaps", "after")
    store.close()
    runner = CliRunner()
    out = runner.invoke(
        cli.app, ["--db", str(db), "mix", "diff", str(before), "after", "--root", str(tmp_path / "snaps"), "--json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["counts"] == {"added": 0, "removed": 3, "changed": 0}
    assert data["by_operation"] == [
        {"action_id": 1, "kind": "dedup", "description": data["by_operation"][0]["description"], "added": 0,
         "removed": 3, "changed": 0}
    ]  # fmt: skip
    assert data["by_operation"][0]["description"].startswith("dedup run 1: 3 rows marked duplicate")
    assert [r["example_id"] for r in data["samples"]["removed"]] == [2, 4, 7]
    text = runner.invoke(
        cli.app, ["--db", str(db), "mix", "diff", before.name, after.name, "--root", str(tmp_path / "snaps")]
    )
    assert text.exit_code == 0, text.output
    assert "added 0, removed 3, changed 0 rows" in text.output and "removed #2 by #1 dedup" in text.output
    missing = runner.invoke(
        cli.app, ["--db", str(db), "mix", "diff", "nope", "after", "--root", str(tmp_path / "snaps")]
    )
    assert missing.exit_code == 1 and "no snapshot 'nope'" in missing.output


def test_snapshots_from_before_lineage_are_placed_by_their_manifest_time(make_store, tmp_path: Path) -> None:
    store = build_store(make_store)
    before = export(store, tmp_path, "before")
    dedup_id = dedup(store)
    after = export(store, tmp_path, "after")
    for folder, when in ((before, 1.0), (after, time.time() + 3600)):
        path = folder / "manifest.json"
        manifest = json.loads(path.read_text())
        del manifest["lineage"]
        path.write_text(json.dumps(manifest))
        os.utime(path, (when, when))
    diff = lineage.diff_snapshots(before, after, store)
    assert (diff.a["as_of_action"], diff.b["as_of_action"]) == (0, dedup_id)
    assert set(diff.rows["action_id"]) == {dedup_id} and diff.counts()["removed"] == 3
