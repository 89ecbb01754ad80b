"""A small store for drop-report, lineage and snapshot-diff tests: two sources, a dedup run and judge ratings."""

from __future__ import annotations

import pandas as pd

from curation.dedup import runs
from curation.operations import judge as ratings
from curation.store import Store, examples
from curation.store import ratings as ratings_table

# ids 1-6 source alpha, 7-8 source beta. ROUGE-L on instruction at 0.7: 2 and 7 match 1 (5 of 6 words, 0.833),
# 4 matches 3 (6 of 6 and 7 words, 0.923); 5, 6 and 8 match nothing.
# The keep rule prefers seed over generated over imported rows, then the oldest: 1 and 3 are kept.
ALPHA = [
    ("alpha beta gamma delta epsilon zeta", "qa", "imported"),
    ("alpha beta gamma delta epsilon eta", "qa", "imported"),
    ("one two three four five six", "math", "seed"),
    ("one two three four five six seven", "math", "generated"),
    ("completely different words here now", "math", "imported"),
    ("another unrelated instruction about cats", "qa", "imported"),
]
BETA = [
    ("alpha beta gamma delta epsilon theta", "qa", "imported"),
    ("lorem ipsum dolor sit amet consectetur", None, "generated"),
]


def build_store(make_store) -> Store:
    store = make_store([{"instruction": t, "output": "same", "origin": o, "task": k} for t, k, o in ALPHA], "alpha")
    rows = pd.DataFrame([{"instruction": t, "output": "same", "origin": o, "task": k} for t, k, o in BETA])
    examples.add_examples(store, rows, examples.SourceInfo(name="beta", format="test"))
    return store


def dedup(store: Store) -> int:
    outcome = runs.run_dedup(store, runs.DedupConfig(threshold=0.7), author="t")
    return int(runs.apply_run(store, outcome.run_id, author="t", accept_all=True).action_id)


def reject_below_3(store: Store) -> int:
    ratings_table.save_ratings(
        store, "accuracy", [(1, 5.0, "ok"), (3, 2.0, "meh"), (5, 1.0, "bad"), (6, 4.0, "ok"), (8, 2.5, "meh")], "m", 1
    )
    return int(ratings.reject_below(store, "accuracy", 3, author="t").action_id)
