"""Are dedup decisions true? Connected components (old) vs keep-order assignment (now) on the Alpaca no-input file.

For each threshold: the largest cluster either way, how many "duplicate of #K" decisions each makes, and how many
of those are false (the dropped row's rouge-score ROUGE-L against its kept row K fails the rule; checked with the
real rouge_score package); greedy Self-Instruct filter drops with '>=' and '>'; time of the assignment stage.

    python bench/dedup_decisions_bench.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from rouge_score import rouge_scorer

from curation.dedup.clusters import KeepRule, cluster_labels, greedy_walk, keep_order, pair_clusters
from curation.dedup.rouge_join import rouge_self_join, tokenize_texts

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def false_decisions(texts: list[str], dropped: np.ndarray, kept: np.ndarray, threshold: float) -> int:
    """Dropped rows whose real rouge-score against their kept row is below the threshold ('ge' rule)."""
    scores = (SCORER.score(texts[k], texts[d])["rougeL"].fmeasure for d, k in zip(dropped, kept, strict=True))
    return sum(score < threshold for score in scores)


def components_decisions(n: int, pairs: pd.DataFrame, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The old rule: one cluster per connected component, everything but its first row in keep order dropped."""
    labels = cluster_labels(n, pairs["a"].to_numpy(), pairs["b"].to_numpy())
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    members = pd.DataFrame({"row": np.flatnonzero(labels >= 0)})
    members["cluster"], members["rank"] = labels[members["row"]], rank[members["row"]]
    head = members.loc[members.groupby("cluster")["rank"].idxmin()].set_index("cluster")["row"]
    dropped = members[~members["row"].isin(head)]
    largest = int(np.bincount(labels[labels >= 0]).max())
    return dropped["row"].to_numpy(), head.reindex(dropped["cluster"]).to_numpy(), largest


def main() -> None:
    path = DATA / "alpaca_noinput_instructions_31323.json"
    texts = [r["instruction"] for r in json.loads(path.read_text(encoding="utf-8"))]
    rows = pd.DataFrame({"id": np.arange(1, len(texts) + 1), "status": "pending", "origin": "imported", "output": ""})
    tok = tokenize_texts(texts)
    order = keep_order(rows, KeepRule())
    for threshold in (0.5, 0.7):
        pairs = rouge_self_join(tok, threshold, "ge")
        old_dropped, old_kept, old_largest = components_decisions(len(texts), pairs, order)
        started = time.perf_counter()
        members = pair_clusters(rows, pairs, KeepRule())
        took = time.perf_counter() - started
        new = members[~members["keep"]]
        new_largest = int(members.groupby("cluster").size().max()) if len(members) else 0
        print(f"alpaca no-input {len(texts):,} rows, ROUGE-L >= {threshold}: {len(pairs):,} pairs")
        print(f"  largest cluster: connected components {old_largest:,} vs no chaining {new_largest:,}")
        old_false = false_decisions(texts, old_dropped, old_kept, threshold)
        new_false = false_decisions(texts, new["row"].to_numpy(), new["blocked_by"].to_numpy(), threshold)
        print(
            f"  false 'duplicate of #K' decisions: connected components {old_false:,} of {len(old_dropped):,} "
            f"vs no chaining {new_false:,} of {len(new):,}"
        )
        print(f"  no-chaining assignment stage: {took:.2f} s")
        walk = np.arange(len(texts))
        ge = greedy_walk(len(texts), pairs, walk)
        gt = greedy_walk(len(texts), rouge_self_join(tok, threshold, "gt"), walk)
        print(f"  greedy filter in file order: drops {len(ge):,} with >=, {len(gt):,} with >")


if __name__ == "__main__":
    main()
