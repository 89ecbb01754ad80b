"""Stateful property test: random edits, reviews, tags, CoT runs, dedups, reverts, undos and redos by two authors.

Invariants after every step: every value ever saved is in the revisions; the current value of every (row, field)
is what its latest revision wrote (no action left half-applied); undo changes only fields its action wrote on
rows nobody changed since; redo right after undo restores the state; history renders for every row.
The default budget keeps CI fast; UNDO_MACHINE_EXAMPLES=60 explores more (it finds a clobbering undo in seconds).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from curation.cot import tagging as cot_tagging
from curation.dedup import runs
from curation.diffs import inline_diff, text_diff
from curation.store import Store, actions, examples, revisions
from curation.store import dedup as dedup_store
from curation.store.actions import UndoConflictError

N = 5
IDS = st.integers(1, 3)  # few rows, so later actions often touch what an earlier one wrote
AUTHORS = st.sampled_from(["ann", "bob"])
TEXTS = st.sampled_from(["", "alpha", "beta gamma", "So the answer is 4.", "x\ny"])
STATUSES = st.sampled_from(["pending", "approved", "rejected", "duplicate"])
FIELDS = ("instruction", "output", "status", "status_reason")
SEED = [
    {"instruction": "Add 2 and 2.", "output": "2 + 2 = 4. So the answer is 4."},
    {"instruction": "Name a colour.", "output": "Blue"},
    {"instruction": "Name a colour!", "output": "Red"},
    {"instruction": "Explain rain.", "output": "First, water evaporates. Then it condenses. Therefore it rains."},
    {"instruction": "Say hi.", "output": "hi"},
]


class UndoMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp())
        self.store = Store(self.folder / "db.duckdb")
        examples.add_examples(self.store, pd.DataFrame(SEED), examples.SourceInfo("seed", "test"))
        self.saved: list[tuple[int, str, str]] = []
        self.checks = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------------
    def state(self) -> dict[tuple[int, str], object]:
        rows = self.store.query_rows("SELECT id, instruction, output, status, status_reason FROM examples")
        tags = self.store.query_rows("SELECT example_id, tag, source FROM example_tags")
        out: dict[tuple[int, str], object] = {(r[0], f): v for r in rows for f, v in zip(FIELDS, r[1:], strict=True)}
        out.update({(i, f"tag:{t}"): s for i, t, s in tags})
        return out

    def action_ids(self) -> list[int]:
        return [int(r[0]) for r in self.store.query_rows("SELECT id FROM actions ORDER BY id DESC")]

    # -- rules -------------------------------------------------------------------------------------
    @rule(author=AUTHORS, row=IDS, field=st.sampled_from(["output", "output", "instruction"]), text=TEXTS)
    def edit(self, author: str, row: int, field: str, text: str) -> None:
        version = examples.get(self.store, row)["version"]
        revisions.update_example(self.store, row, {field: text}, expected_version=version, author=author)
        self.saved.append((row, field, text))

    @rule(author=AUTHORS, row=IDS, status=STATUSES, reason=st.sampled_from([None, "why"]))
    def review(self, author: str, row: int, status: str, reason: str | None) -> None:
        revisions.set_status(self.store, status, author=author, ids=[row], reason=reason)

    @rule(author=AUTHORS, rows=st.sets(IDS, min_size=1), status=STATUSES)
    def bulk_review(self, author: str, rows: set[int], status: str) -> None:
        revisions.set_status(self.store, status, author=author, ids=sorted(rows), kind="bulk-review")

    @rule(author=AUTHORS, rows=st.sets(IDS, min_size=1), present=st.booleans())
    def tag(self, author: str, rows: set[int], present: bool) -> None:
        revisions.set_tag(self.store, "math", present, author=author, ids=sorted(rows))

    @rule(threshold=st.sampled_from([0.3, 0.6]))
    def cot_run(self, threshold: float) -> None:
        cot_tagging.tag_rows(self.store, threshold=threshold)

    @rule(author=AUTHORS, row=IDS, present=st.booleans())
    def cot_manual(self, author: str, row: int, present: bool) -> None:
        cot_tagging.set_manual(self.store, present, author=author, ids=[row])

    @rule(author=AUTHORS, rows=st.lists(IDS, min_size=2, max_size=3, unique=True))
    def dedup_apply(self, author: str, rows: list[int]) -> None:
        members = pd.DataFrame({"cluster": 0, "example_id": rows, "keep": [True] + [False] * (len(rows) - 1)})
        run = {"method": "rouge", "mode": "pairs", "scope": "instruction", "threshold": 0.7, "rule": "ge"}
        pairs = pd.DataFrame(columns=["a_id", "b_id", "score"])
        run_id = dedup_store.create_run(self.store, run, pairs, members.assign(blocked_by=None, score=0.8))
        with contextlib.suppress(ValueError):  # nothing left to mark
            runs.apply_run(self.store, run_id, author=author, accept_all=True)

    @rule(author=AUTHORS, row=IDS, pick=st.integers(0, 50))
    def revert(self, author: str, row: int, pick: int) -> None:
        hist = revisions.history(self.store, row)
        choices = [0, *hist["revision_id"].tolist()]
        version = examples.get(self.store, row)["version"]
        revisions.revert_to(self.store, row, int(choices[pick % len(choices)]), expected_version=version,
                            author=author, force=True)  # fmt: skip

    @rule(author=AUTHORS, pick=st.integers(0, 50))
    def undo_checked(self, author: str, pick: int) -> None:
        self.undo_then_redo(author, pick, "check")

    @rule(author=AUTHORS, pick=st.integers(0, 50))
    def undo_skipping_changed_rows(self, author: str, pick: int) -> None:
        self.undo_then_redo(author, pick, "skip")

    @rule(author=AUTHORS, pick=st.integers(0, 50))
    def undo_forced(self, author: str, pick: int) -> None:
        self.undo_then_redo(author, pick, "force")

    def undo_then_redo(self, author: str, pick: int, mode: str) -> None:
        ids = self.action_ids()
        if not ids:
            return
        target = ids[-1 - pick % len(ids)]  # oldest first: the likeliest to have later work on its rows
        before = self.state()
        values = dict(((r, f), v) for r, f, v in self.store.query_rows(
            "SELECT example_id, field, arg_max_null(new_value, id) FROM revisions WHERE action_id = ? GROUP BY 1, 2",
            [int(actions.chain(self.store, target)[-1]["id"])]))  # fmt: skip
        wrote = set(values)
        try:
            result = revisions.undo_action(self.store, target, author=author, force=mode == "force",
                                           skip_changed=mode == "skip")  # fmt: skip
        except UndoConflictError as err:
            assert (mode == "check" and err.rows) or err.later is not None
            assert self.state() == before  # a refused undo changes nothing
            return
        except ValueError as err:
            assert "already undone" in str(err)
            assert self.state() == before
            return
        after = self.state()
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        touched = {(r, "status_reason" if f == "status" else f) for r, f in wrote} | wrote
        assert changed <= touched, f"undo of {target} changed {changed - touched}"
        assert not {r for r, _ in changed} & set(result.skipped)
        if mode != "force":  # every field it changed still held what the action wrote: nobody touched it since
            for row, field in changed & wrote:
                held = ("1" if (row, field) in before else "0") if field.startswith("tag:") else before[(row, field)]
                assert held == values[(row, field)], f"undo of {target} overwrote later work on #{row} {field}"
        if mode != "force":
            revisions.redo_action(self.store, target, author=author, force=False)
            assert self.state() == before

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def every_saved_value_is_in_the_revisions(self) -> None:
        recorded = set(self.store.query_rows("SELECT example_id, field, new_value FROM revisions"))
        assert all(item in recorded for item in self.saved)

    @invariant()
    def current_values_are_what_the_latest_revision_wrote(self) -> None:
        latest = self.store.query_rows(
            "SELECT example_id, field, arg_max_null(new_value, id) FROM revisions WHERE field NOT LIKE 'tag:%' "
            "GROUP BY 1, 2"
        )
        now = self.state()
        assert all(now[(row, field)] == value for row, field, value in latest)
        tags = self.store.query_rows(
            "SELECT example_id, arg_max_null(new_value, id) FROM revisions WHERE field = 'tag:math' GROUP BY 1"
        )
        assert all(((row, "tag:math") in now) == (value == "1") for row, value in tags)

    @invariant()
    def history_renders_for_every_row(self) -> None:
        self.checks += 1
        for row in (1 + self.checks % 3,):  # one row per step keeps the test fast; all three over any 3 steps
            hist = revisions.history(self.store, row)
            for old, new in zip(hist["old_value"], hist["new_value"], strict=True):
                inline_diff(old, new), text_diff(old, new)

    @invariant()
    def bookkeeping_is_consistent(self) -> None:
        for action_id, undone_by in self.store.query_rows(
            "SELECT id, undone_by FROM actions WHERE undone_by IS NOT NULL"
        ):
            assert revisions.get_action(self.store, undone_by)["undoes"] == action_id


UndoMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("UNDO_MACHINE_EXAMPLES", 10)),
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
TestUndoStateMachine = UndoMachine.TestCase
