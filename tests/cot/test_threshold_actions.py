"""Re-applying the CoT threshold is an action: audit text, undo and redo, in any order (a stateful property test)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from curation.cot import tagging as cot_tagging
from curation.store import Store, actions, examples
from curation.store import cot as cot_store
from curation.store.actions import UndoConflictError

SEED = [
    {"instruction": "Add 2 and 2.", "output": "2 + 2 = 4. So the answer is 4."},
    {"instruction": "Name a colour.", "output": "Blue"},
    {"instruction": "Explain rain.", "output": "First, water evaporates. Then it condenses. Therefore it rains."},
    {"instruction": "Why is 9 odd?", "output": "Let's think step by step. 9 = 2*4 + 1, so the answer is odd."},
    {"instruction": "Say hi.", "output": "hi"},
]
THRESHOLDS = st.sampled_from([0.05, 0.3, 0.5, 0.7, 0.95])


def _tags(store: Store) -> dict[int, tuple[str, float | None]]:
    rows = store.query_rows("SELECT example_id, source, score FROM example_tags WHERE tag = 'cot'")
    return {int(i): (source, None if score is None else round(float(score), 9)) for i, source, score in rows}


def test_threshold_is_an_undoable_action_with_audit_text(make_store) -> None:
    store = make_store(SEED)
    cot_tagging.tag_rows(store, threshold=1.0)  # scores stop at 0.9999: nothing tagged yet
    scores = dict(store.query_rows("SELECT example_id, score FROM signals WHERE name = 'cot'"))
    expected = {i for i, s in scores.items() if s >= 0.3}
    assert 0 < len(expected) < len(SEED)  # the threshold below changes some rows, not all
    before = _tags(store)
    result = cot_store.apply_threshold(store, 0.3, author="ann")
    assert set(_tags(store)) == expected and result["auto_tagged"] == len(expected)
    action = actions.get_action(store, result["action_id"])
    assert action["kind"] == "cot-threshold" and action["author"] == "ann"
    assert action["description"].startswith("CoT threshold 0.3: tagged cot #")
    assert cot_store.apply_threshold(store, 0.3)["action_id"] is None  # nothing to change: no empty action
    actions.undo_action(store, result["action_id"], author="ann")
    assert _tags(store) == before
    actions.redo_action(store, result["action_id"], author="ann")
    assert set(_tags(store)) == expected
    assert all(v == 1 for v in store.query_df("SELECT version FROM examples")["version"])  # editors never conflict


class ThresholdMachine(RuleBasedStateMachine):
    """Thresholds applied, undone and redone in any order: each step either does exactly what it says (its rows
    go back to the values before the action, or forward to those after it) or refuses and changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp())
        self.store = Store(self.folder / "db.duckdb")
        examples.add_examples(self.store, pd.DataFrame(SEED), examples.SourceInfo("seed", "test"))
        cot_tagging.tag_rows(self.store, threshold=0.5)
        self.applied: list[tuple[int, dict, dict]] = []  # (action id, tags before, tags after)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _rows(self, action_id: int) -> set[int]:
        found = self.store.query_rows("SELECT DISTINCT example_id FROM revisions WHERE action_id = ?", [action_id])
        return {int(r[0]) for r in found}

    @rule(threshold=THRESHOLDS)
    def apply(self, threshold: float) -> None:
        before = _tags(self.store)
        result = cot_store.apply_threshold(self.store, threshold, author="ann")
        after = _tags(self.store)
        scores = dict(self.store.query_rows("SELECT example_id, score FROM signals WHERE name = 'cot'"))
        assert set(after) == {i for i, s in scores.items() if s >= threshold}
        if result["action_id"] is None:
            assert after == before
        else:
            self.applied.append((int(result["action_id"]), before, after))

    @rule(pick=st.integers(0, 20), redo=st.booleans())
    def reverse(self, pick: int, redo: bool) -> None:
        if not self.applied:
            return
        action_id, before, after = self.applied[pick % len(self.applied)]
        undone = actions.is_undone(self.store, action_id)
        state = _tags(self.store)
        rows = self._rows(action_id)
        try:
            if redo:
                actions.redo_action(self.store, action_id, author="bob")
            else:
                actions.undo_action(self.store, action_id, author="bob")
        except UndoConflictError:
            assert _tags(self.store) == state
            return
        except ValueError as err:  # undo of an undone action, redo of one in effect
            assert undone != redo and ("already undone" in str(err) or "nothing to redo" in str(err))
            assert _tags(self.store) == state
            return
        assert undone == redo
        now = _tags(self.store)
        target = after if redo else before
        assert {i: now.get(i) for i in rows} == {i: target.get(i) for i in rows}
        assert {i: v for i, v in now.items() if i not in rows} == {i: v for i, v in state.items() if i not in rows}

    @rule()
    def undo_latest(self) -> None:
        """The newest action in effect whose later actions are all undone can always be undone."""
        live = [a for a, _, _ in self.applied if not actions.is_undone(self.store, a)]
        if not live:
            return
        latest = max(live)
        later = [a for a, _, _ in self.applied if a > latest]
        if later:  # a later action was undone: its undo wrote the same rows, and that is a later change
            return
        _, before, _ = next(x for x in self.applied if x[0] == latest)
        actions.undo_action(self.store, latest, author="bob")
        assert _tags(self.store) == before

    @invariant()
    def auto_tags_are_scored_rows(self) -> None:
        tagged = set(_tags(self.store))
        scored = {int(r[0]) for r in self.store.query_rows("SELECT example_id FROM signals WHERE name = 'cot'")}
        assert tagged <= scored


TestThresholdMachine = ThresholdMachine.TestCase
TestThresholdMachine.settings = settings(
    max_examples=20, stateful_step_count=8, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
