"""Snapshot lineage and snapshot diffs: which curation decisions shaped a snapshot, and which one is responsible
for each row added, removed or changed between two snapshots.

A snapshot's manifest records `lineage`: the newest action id at export time (`as_of_action`, a point on the
action timeline, so no wall-clock time enters the manifest) and every action in effect then that set the status or
tags of rows (id, kind, description, parameters incl. run ids, rows per decision, rows of this snapshot it
touched). Two snapshots' points bound the actions that can explain their differences: for each differing row, the
last action between the two points that changed the deciding field (status or tags for rows that entered or left,
the differing fields for rows whose content changed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curation.mixture import snapshot
from curation.store import Store, drops

MAX_ACTIONS = 100  # a manifest lists at most this many actions (those that touched most rows); the rest summed
_BOOKKEEPING = ("undo", "redo")
_CONTENT = ("instruction", "input", "output", "messages", "source", "origin", "task", "task_cluster", "format", "cot")
# The store field whose revisions explain a difference in a snapshot field.
_STORE_FIELD = {"instruction": "instruction", "input": "input", "output": "output", "task": "task",
                "task_cluster": "task_cluster", "format": "format", "cot": "tag:cot"}  # fmt: skip
NO_ACTION = "no recorded action (mixture config, sampling or rows imported since)"


def _decision(field: str, value: str | None) -> str:
    if field == "status":
        return f"status → {value}"
    return f"tag {field[4:]} {'added' if value == '1' else 'removed'}"


def _in_effect(links: pd.DataFrame) -> list[int]:
    """Ids of the actions (not undo/redo bookkeeping) in effect at the end of `links`: chain length is odd."""
    undone_by = {int(i): (None if pd.isna(u) else int(u)) for i, u in zip(links["id"], links["undone_by"], strict=True)}
    found = []
    for action_id, kind in zip(links["id"].astype(int), links["kind"], strict=True):
        if kind in _BOOKKEEPING:
            continue
        length, at = 1, undone_by[action_id]
        while at is not None and at in undone_by:
            length, at = length + 1, undone_by[at]
        if length % 2 == 1:
            found.append(action_id)
    return found


def _run_note(run: Any) -> str:
    return f"dedup run {int(run.id)} ({run.method}, {run.scope}, threshold {run.threshold:g}, keep {run.rule})"


def lineage(store: Store, snapshot_ids: list[int]) -> dict[str, Any]:
    """The manifest's `lineage`: the action timeline point and the status/tag decisions in effect then."""
    upto = drops.last_action_id(store)
    links = drops.action_links(store, upto)
    counts = drops.decision_counts(store, upto)
    counts = counts[counts["action_id"].isin(_in_effect(links))]
    if counts.empty:
        return {"as_of_action": upto, "actions": [], "omitted": {}}
    touched = drops.rows_touched(store, upto, snapshot_ids)
    in_snapshot = dict(zip(touched["action_id"].astype(int), touched["rows"].astype(int), strict=True))
    info = links.set_index("id")
    entries = []
    for action_id, part in counts.groupby("action_id", sort=True):
        row = info.loc[int(action_id)]
        params = json.loads(row["params"]) if isinstance(row["params"], str) and row["params"] else {}
        decisions = {
            _decision(f, v): int(n) for f, v, n in zip(part["field"], part["new_value"], part["rows"], strict=True)
        }
        entries.append(
            {
                "id": int(action_id),
                "kind": row["kind"],
                "description": row["description"],
                "params": params,
                "rows": int(row["row_count"]),
                "decisions": dict(sorted(decisions.items())),
                "rows_in_snapshot": in_snapshot.get(int(action_id), 0),
            }
        )
    _name_runs(store, entries)
    kept = sorted(sorted(entries, key=lambda e: (-e["rows"], e["id"]))[:MAX_ACTIONS], key=lambda e: e["id"])
    kept_ids = {e["id"] for e in kept}
    omitted: dict[str, dict[str, int]] = {}
    for entry in entries:
        if entry["id"] not in kept_ids:
            into = omitted.setdefault(entry["kind"], {"actions": 0, "rows": 0})
            into["actions"] += 1
            into["rows"] += entry["rows"]
    return {"as_of_action": upto, "actions": kept, "omitted": dict(sorted(omitted.items()))}


def _name_runs(store: Store, entries: list[dict[str, Any]]) -> None:
    """Add the dedup run's method and threshold to the entries of dedup applies ('dedup run 3 (rouge, ...)')."""
    run_ids = [int(e["params"]["run_id"]) for e in entries if e["kind"] == "dedup" and "run_id" in e["params"]]
    runs = {int(r.id): _run_note(r) for r in drops.dedup_runs_info(store, run_ids).itertuples(index=False)}
    for entry in entries:
        run_id = entry["params"].get("run_id") if entry["kind"] == "dedup" else None
        if run_id is not None and int(run_id) in runs:
            entry["run"] = runs[int(run_id)]


def describe(entry: dict[str, Any]) -> str:
    """One lineage entry in words: 'dedup run 3 (rouge, ..., threshold 0.7, ...): status → duplicate 120 rows'."""
    what = ", ".join(f"{d} {n:,} rows" for d, n in entry["decisions"].items())
    return f"#{entry['id']} {entry.get('run') or entry['kind']}: {what}"


# -- diff -------------------------------------------------------------------------------------------------
@dataclass
class SnapshotDiff:
    """Rows added, removed and changed from snapshot A to B, each with the action responsible (when known)."""

    a: dict[str, Any]
    b: dict[str, Any]
    rows: pd.DataFrame  # example_id, change, fields, part_a, part_b, instruction, action_id, kind, description
    by_operation: pd.DataFrame  # action_id, kind, description, added, removed, changed

    def counts(self) -> dict[str, int]:
        found = self.rows["change"].value_counts()
        return {c: int(found.get(c, 0)) for c in ("added", "removed", "changed")}

    def to_dict(self, samples: int = 5) -> dict[str, Any]:
        """Plain JSON-able data: both snapshots, counts, counts per operation, every row, samples per change."""
        rows = json.loads(self.rows.to_json(orient="records")) if len(self.rows) else []
        return {
            "a": self.a,
            "b": self.b,
            "counts": self.counts(),
            "by_operation": json.loads(self.by_operation.to_json(orient="records")) if len(self.by_operation) else [],
            "rows": rows,
            "samples": {c: [r for r in rows if r["change"] == c][:samples] for c in ("added", "removed", "changed")},
        }


def _rows(folder: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per distinct example id: part, content hash, the hashed fields, instruction."""
    train, heldout, manifest = snapshot.load_snapshot(folder)
    frame = pd.concat([train.assign(part="train"), heldout.assign(part="heldout")], ignore_index=True)
    frame = frame.drop_duplicates("id", keep="first").reset_index(drop=True)
    frame["cot"] = [bool(v) for v in frame["cot"]]
    frame["hash"] = [
        hashlib.sha256(snapshot.dumps({k: r[k] for k in _CONTENT}).encode()).hexdigest()
        for r in frame.astype(object).to_dict("records")
    ]
    return frame.set_index("id"), manifest


def _header(folder: Path, manifest: dict[str, Any], as_of: int | None) -> dict[str, Any]:
    return {
        "name": manifest.get("name"),
        "path": str(folder),
        "content_hash": manifest.get("content_hash"),
        "as_of_action": as_of,
    }


def _as_of(store: Store | None, folder: Path, manifest: dict[str, Any]) -> int | None:
    """The snapshot's point on the action timeline; for snapshots written before lineage, the newest action
    recorded before its manifest's file time."""
    recorded = (manifest.get("lineage") or {}).get("as_of_action")
    if recorded is not None or store is None:
        return recorded
    mtime = (Path(folder) / "manifest.json").stat().st_mtime
    written = datetime.fromtimestamp(mtime)  # naive local time, like DuckDB's now() stored in a TIMESTAMP column
    return drops.last_action_before(store, written)


def _changed_fields(a: pd.Series, b: pd.Series) -> list[str]:
    fields = [k for k in _CONTENT if snapshot.dumps(_plain(a[k])) != snapshot.dumps(_plain(b[k]))]
    return fields + (["part"] if a["part"] != b["part"] else [])


def _plain(value: Any) -> Any:
    return bool(value) if isinstance(value, (bool, np.bool_)) else value


def diff_snapshots(path_a: Path | str, path_b: Path | str, store: Store | None = None) -> SnapshotDiff:
    """What changed from snapshot A to B (by example id and content hash), with the responsible actions when a
    store is given (the last action between the two snapshots' timeline points that changed the deciding field)."""
    rows_a, manifest_a = _rows(Path(path_a))
    rows_b, manifest_b = _rows(Path(path_b))
    both = rows_a.join(rows_b, how="outer", lsuffix="_a", rsuffix="_b")
    in_a, in_b = both["hash_a"].notna(), both["hash_b"].notna()
    changed = in_a & in_b & ((both["hash_a"] != both["hash_b"]) | (both["part_a"] != both["part_b"]))
    both["change"] = None
    both.loc[in_b & ~in_a, "change"] = "added"
    both.loc[in_a & ~in_b, "change"] = "removed"
    both.loc[changed, "change"] = "changed"
    both = both[both["change"].notna()]
    frame = pd.DataFrame(
        {
            "example_id": both.index.to_numpy(dtype="int64"),
            "change": both["change"].to_numpy(),
            "fields": [
                _changed_fields(rows_a.loc[i], rows_b.loc[i]) if c == "changed" else []
                for i, c in zip(both.index, both["change"], strict=True)
            ],
            "part_a": both["part_a"].astype(object).where(both["part_a"].notna(), None).to_numpy(),
            "part_b": both["part_b"].astype(object).where(both["part_b"].notna(), None).to_numpy(),
            "instruction": both["instruction_b"].where(in_b, both["instruction_a"]).to_numpy(),
        }
    )
    as_of_a, as_of_b = _as_of(store, Path(path_a), manifest_a), _as_of(store, Path(path_b), manifest_b)
    frame = _responsible(store, frame, as_of_a, as_of_b)
    return SnapshotDiff(
        _header(Path(path_a), manifest_a, as_of_a),
        _header(Path(path_b), manifest_b, as_of_b),
        frame.sort_values(["change", "example_id"], ignore_index=True),
        _by_operation(frame),
    )


def _last(changes: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    """The newest change per example among the rows of `changes` where `mask` holds."""
    picked = changes[mask].sort_values(["example_id", "action_id"]).drop_duplicates("example_id", keep="last")
    return picked.set_index("example_id")[["action_id", "kind", "description"]]


def _responsible(store: Store | None, frame: pd.DataFrame, as_of_a: int | None, as_of_b: int | None) -> pd.DataFrame:
    """Add action_id, kind, description: the last action between the two points that changed the row's deciding
    field (status, then tags, for rows that entered or left; the differing fields for changed rows), or any field."""
    frame = frame.assign(action_id=pd.array([None] * len(frame), dtype="Int64"), kind=None, description=None)
    if store is None or as_of_a is None or as_of_b is None or frame.empty:
        return frame
    lo, hi = sorted((int(as_of_a), int(as_of_b)))
    changes = drops.last_changes(store, frame["example_id"].tolist(), lo, hi)
    wanted = {  # per row: the fields whose last change explains it, as (example_id, field) pairs
        (int(i), _STORE_FIELD[f])
        for i, c, fields in zip(frame["example_id"], frame["change"], frame["fields"], strict=True)
        if c == "changed"
        for f in fields
        if f in _STORE_FIELD
    }
    pairs = pd.Series(list(zip(changes["example_id"].astype(int), changes["field"], strict=True)), dtype=object)
    moved = frame.set_index("example_id")["change"].isin(["added", "removed"])
    entered = changes["example_id"].map(moved).fillna(False).astype(bool).to_numpy()
    priority = [
        _last(changes, pd.Series(pairs.isin(wanted).to_numpy(), index=changes.index)),
        _last(changes, (changes["field"] == "status") & entered),
        _last(changes, changes["field"].str.startswith("tag:") & entered),
        _last(changes, pd.Series(True, index=changes.index)),
    ]
    best = priority[0]
    for more in priority[1:]:
        best = best.combine_first(more)
    found = best.reindex(frame["example_id"])
    frame["action_id"] = pd.array([None if pd.isna(v) else int(v) for v in found["action_id"]], dtype="Int64")
    frame["kind"] = [None if pd.isna(v) else str(v) for v in found["kind"]]
    frame["description"] = [None if pd.isna(v) else str(v) for v in found["description"]]
    return frame


def _by_operation(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["action_id", "kind", "description", "added", "removed", "changed"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    keyed = frame.assign(
        key=frame["action_id"].astype(object).where(frame["action_id"].notna(), -1),
        kind=frame["kind"].where(frame["kind"].notna(), ""),
        description=frame["description"].where(frame["description"].notna(), NO_ACTION),
    )
    table = keyed.pivot_table(
        index=["key", "kind", "description"], columns="change", values="example_id", aggfunc="count", fill_value=0
    ).reset_index()
    for change in ("added", "removed", "changed"):
        if change not in table:
            table[change] = 0
    table["action_id"] = pd.array([None if k == -1 else int(k) for k in table["key"]], dtype="Int64")
    table.columns.name = None
    return table.sort_values("key", ignore_index=True)[columns].astype(
        {"added": "int64", "removed": "int64", "changed": "int64"}
    )


def resolve(ref: str, root: Path | None = None) -> Path:
    """A snapshot folder from a path, a folder name under the snapshots folder, or a snapshot name (its newest)."""
    path = Path(ref)
    if (path / "manifest.json").is_file():
        return path
    found = snapshot.list_snapshots(root)
    by_folder = [m for m in found if Path(m["path"]).name == ref]
    by_name = [m for m in found if m.get("name") == ref]
    if by_folder or by_name:
        return Path((by_folder or by_name)[0]["path"])
    raise ValueError(f"no snapshot {ref!r}: give a snapshot folder, its folder name or its name (see `mix list`)")
