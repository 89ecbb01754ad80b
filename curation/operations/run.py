"""Running any operation over the store: the version-aware scoring job, the decision preview, and apply as one action.

`score_filtered` scores the rows matching a filter in chunks (rows never scored, or edited since; all with
`rescore`), hands each chunk's batches to the executor it was given (this process by default; any object with
`submit(fn, *args) -> Future`, e.g. a ProcessPoolExecutor, so no kernel picks where it runs), stores the signals
as one run and reports progress, so a cancelled job keeps what it scored and a rerun continues from there.
`apply_decisions` turns `decide()` on the stored signals into one undoable action (status with its reason, tags,
field edits); `actions.undo_action` / `redo_action` reverse it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from curation import config
from curation.filters import ExampleFilter
from curation.jobs import JobCancelled, JobContext, JobFn
from curation.operations.base import Decision, Operation, RowText, Signal, get
from curation.store import Store, changes, signals
from curation.store.changes import ActionResult

JOB_KIND = "signals"
ACTION_KIND = "operation"
CHUNK = 1000  # rows read, scored and saved at a time (progress and cancel are checked between chunks)
BATCH = 250  # rows per task handed to the executor
Progress = Callable[[int, int], None]


class Executor(Protocol):
    """What a run needs of an executor: `concurrent.futures.Executor.submit`."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future: ...


class InlineExecutor:
    """Runs each task at once in this thread (the default: no pool to start, nothing to pickle)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the caller through the future, like a pool does
            future.set_exception(err)
        return future


def resolve(operation: str | Operation) -> Operation:
    return get(operation) if isinstance(operation, str) else operation


def row_texts(frame: pd.DataFrame) -> list[RowText]:
    """RowText for each row of a `signals.pending_rows` frame."""
    out = []
    for row in frame.itertuples(index=False):
        messages = json.loads(row.messages) if isinstance(row.messages, str) and row.messages else None
        meta = json.loads(row.meta) if isinstance(row.meta, str) and row.meta else {}
        out.append(
            RowText(
                int(row.id),
                int(row.version),
                row.instruction or "",
                row.input or "",
                row.output or "",
                messages,
                meta if isinstance(meta, dict) else {},
            )
        )
    return out


def score_batches(
    operation: Operation, rows: Sequence[RowText], params: Mapping[str, Any], executor: Executor
) -> list[Signal]:
    """Score rows in batches on the executor; one Signal per row, in order (an operation that breaks that fails)."""
    batches = [list(rows[i : i + BATCH]) for i in range(0, len(rows), BATCH)]
    futures = [executor.submit(operation.score, batch, dict(params)) for batch in batches]
    found: list[Signal] = []
    for batch, future in zip(batches, futures, strict=True):
        result = list(future.result())
        if [s.id for s in result] != [r.id for r in batch]:
            raise ValueError(f"operation {operation.name}: score() must return one Signal per row, in order")
        found.extend(result)
    return found


def score_filtered(
    store: Store,
    operation: str | Operation,
    params: Mapping[str, Any] | None = None,
    flt: ExampleFilter | None = None,
    *,
    rescore: bool = False,
    executor: Executor | None = None,
    progress: Progress | None = None,
    author: str | None = None,
    job_id: int | None = None,
    chunk: int = CHUNK,
) -> dict[str, Any]:
    """Score the rows that need it (new or edited since; all with `rescore`) as one signal run; returns counts.

    `progress(done, total)` runs after each saved chunk; if it raises JobCancelled the signals saved so far are
    kept and the result says `cancelled` (a rerun scores only the rest).
    """
    op = resolve(operation)
    checked = op.params(params)
    variant = op.variant(checked)
    flt = flt or ExampleFilter()
    run_id = signals.create_run(
        store, op.name, variant, _run_params(checked, flt, rescore), author=author, job_id=job_id
    )
    total = signals.count_pending(store, op.name, variant, flt, rescore=rescore)
    done, last_id, cancelled = 0, 0, False
    try:
        while done < total:
            frame = signals.pending_rows(store, op.name, variant, flt, rescore=rescore, after_id=last_id, limit=chunk)
            if frame.empty:
                break
            rows = row_texts(frame)
            found = score_batches(op, rows, checked, executor or InlineExecutor())
            versions = {r.id: r.version for r in rows}
            stored = [signals.Scored(s.id, versions[s.id], s.score, s.label, dict(s.evidence)) for s in found]
            done += signals.save(store, op.name, variant, run_id, stored)
            last_id = rows[-1].id
            if progress:
                progress(done, total)
    except JobCancelled:
        cancelled = True
    counts = {"scored": done, "to_score": total, "cancelled": cancelled}
    signals.finish_run(store, run_id, counts)
    return {"run_id": run_id, "name": op.name, "variant": variant, **counts}


def _run_params(params: Mapping[str, Any], flt: ExampleFilter, rescore: bool) -> dict[str, Any]:
    return {"params": dict(params), "filter": flt.to_dict(), "rescore": rescore}


def scoring_job(
    operation: str | Operation,
    params: Mapping[str, Any] | None = None,
    flt: ExampleFilter | None = None,
    *,
    rescore: bool = False,
    executor: Executor | None = None,
) -> JobFn:
    """A JobRunner function (kind JOB_KIND) that runs `score_filtered` with progress and cancel."""
    op = resolve(operation)
    checked = op.params(params)  # refuse bad parameters before a job starts

    def job(ctx: JobContext) -> dict[str, Any]:
        def report(done: int, total: int) -> None:
            ctx.progress(done, total, f"{op.name}: scored {done:,} of {total:,} rows")

        return score_filtered(
            ctx.store,
            op,
            checked,
            flt,
            rescore=rescore,
            executor=executor,
            progress=report,
            author=config.get("author"),
            job_id=ctx.job_id,
        )

    return job


def job_params(operation: str, params: Mapping[str, Any] | None, flt: ExampleFilter | None, rescore: bool) -> dict:
    return {"operation": operation, **_run_params(dict(params or {}), flt or ExampleFilter(), rescore)}


# -- decisions -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """What applying an operation would do: its decisions, the (row, field) changes that differ from now, and the
    rows left out because they were edited since scoring."""

    operation: str
    variant: str
    params: dict[str, Any]
    decisions: list[Decision]
    changes: pd.DataFrame  # example_id, field, new_value, new_meta, reason
    stale: int

    def counts(self) -> dict[str, int]:
        """Rows that would change, per kind of change (e.g. 'rejected', '+tag:pii', 'edit:output')."""
        return {str(k): int(v) for k, v in self.changes.groupby("change", sort=False)["example_id"].nunique().items()}


def stored_signals(store: Store, name: str, variant: str, flt: ExampleFilter | None = None) -> tuple[list[Signal], int]:
    """The current signals of matching rows (rows edited since scoring left out), and how many were left out."""
    frame = signals.results(store, name, variant, flt)
    current = frame[frame["example_version"] == frame["current_version"]]
    found = [
        Signal(
            int(r.example_id),
            None if pd.isna(r.score) else float(r.score),
            None if pd.isna(r.label) else str(r.label),
            r.evidence if isinstance(r.evidence, dict) else {},
        )
        for r in current.itertuples(index=False)
    ]
    return found, len(frame) - len(current)


def decision_changes(name: str, decisions: Sequence[Decision]) -> pd.DataFrame:
    """The (example_id, field, new_value, new_meta, reason, change) rows of decisions, for `apply_changes`."""
    rows: list[tuple[int, str, str, str | None, str, str]] = []
    for d in decisions:
        if d.status is not None:
            rows.append((d.id, "status", d.status, None, d.reason, d.status))
            rows.append((d.id, "status_reason", d.reason, None, d.reason, d.status))
        for tag in d.add_tags:
            meta = json.dumps({"source": name, "detail": {"reason": d.reason}})
            rows.append((d.id, f"{changes.TAG_PREFIX}{tag}", "1", meta, d.reason, f"+tag:{tag}"))
        for tag in d.remove_tags:
            meta = json.dumps({"source": name})
            rows.append((d.id, f"{changes.TAG_PREFIX}{tag}", "0", meta, d.reason, f"-tag:{tag}"))
        for field_name, text in d.edits.items():
            if field_name not in signals.TEXT_FIELDS:
                raise ValueError(f"operation {name}: edits may change {signals.TEXT_FIELDS}; got {field_name!r}")
            rows.append((d.id, field_name, text, None, d.reason, f"edit:{field_name}"))
    columns = ["example_id", "field", "new_value", "new_meta", "reason", "change"]
    return pd.DataFrame(rows, columns=columns).astype({"example_id": "int64"})


def plan(
    store: Store, operation: str | Operation, params: Mapping[str, Any] | None = None, flt: ExampleFilter | None = None
) -> Plan:
    """`decide()` on the stored, current signals of the rows matching `flt`; keeps only changes that differ from
    the rows' present values (a row already rejected is not rejected again)."""
    op = resolve(operation)
    checked = op.params(params)
    variant = op.variant(checked)
    found, stale = stored_signals(store, op.name, variant, flt)
    decisions = list(op.decide(found, checked)) if found else []
    frame = decision_changes(op.name, decisions)
    differs = changes.differing(store, frame)
    keep = frame.set_index(["example_id", "field"]).index.isin(list(differs))
    status_rows = set(frame.loc[keep & (frame["field"] == "status"), "example_id"])
    # a status change brings its reason; a reason alone (same status, other wording) is not a change
    keep = keep & ((frame["field"] != "status_reason") | frame["example_id"].isin(status_rows))
    return Plan(op.name, variant, checked, decisions, frame[keep].reset_index(drop=True), stale)


def apply_decisions(
    store: Store,
    operation: str | Operation,
    params: Mapping[str, Any] | None = None,
    flt: ExampleFilter | None = None,
    *,
    author: str | None = None,
    kind: str = ACTION_KIND,
) -> tuple[Plan, ActionResult]:
    """Apply what `plan` finds as one undoable action (of `kind`); action_id is None when nothing changes."""
    with store.transaction():
        found = plan(store, operation, params, flt)
        action_params = {
            "operation": found.operation,
            "variant": found.variant,
            "params": found.params,
            "filter": (flt or ExampleFilter()).to_dict(),
            "run_ids": signals.run_ids(store, found.operation, found.variant, found.changes["example_id"]),
            "counts": found.counts(),
        }
        result = changes.apply_changes(
            store,
            found.changes[["example_id", "field", "new_value", "new_meta"]],
            kind=kind,
            author=author or config.get("author"),
            description=f"{found.operation}{f' [{found.variant}]' if found.variant else ''}",
            params=action_params,
        )
        if result.action_id is not None:
            signals.carry_forward(store, result.action_id)
    return found, result
