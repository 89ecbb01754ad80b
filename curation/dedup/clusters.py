"""From similar pairs to decisions: greedy Self-Instruct walk, connected-component clusters, the kept row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from curation.filters import ORIGINS, STATUSES

GREEDY_ORDERS = ("seeds_first", "created", "id")


@dataclass(frozen=True)
class KeepRule:
    """Which row of a cluster is kept: preferred status, then origin, then longer output, then oldest id."""

    statuses: tuple[str, ...] = ("approved", "pending", "rejected", "duplicate")
    origins: tuple[str, ...] = ORIGINS
    longer_output: bool = True

    def __post_init__(self) -> None:
        if set(self.statuses) - set(STATUSES) or set(self.origins) - set(ORIGINS):
            raise ValueError(f"keep rule statuses must be among {STATUSES} and origins among {ORIGINS}")

    def rank(self, rows: pd.DataFrame) -> pd.Series:
        """Position of each row (columns id, status, origin, and output or output_chars) in keep order; 0 = kept
        first."""
        status_rank = rows["status"].map({s: i for i, s in enumerate(self.statuses)}).fillna(len(self.statuses))
        origin_rank = rows["origin"].map({o: i for i, o in enumerate(self.origins)}).fillna(len(self.origins))
        chars = rows["output_chars"] if "output_chars" in rows else rows["output"].fillna("").str.len()
        output_len = chars * (-1 if self.longer_output else 0)
        key = pd.DataFrame({"s": status_rank, "o": origin_rank, "l": output_len, "id": rows["id"]})
        order = key.sort_values(["s", "o", "l", "id"], kind="stable").index
        return pd.Series(np.arange(len(order)), index=order).reindex(rows.index)


def cluster_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the pair graph over n rows; -1 for rows in no pair, clusters numbered from 0
    in order of their smallest row."""
    graph = sp.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    in_pair = np.zeros(n, dtype=bool)
    in_pair[np.asarray(a, dtype=np.int64)] = True
    in_pair[np.asarray(b, dtype=np.int64)] = True
    out = np.full(n, -1, dtype=np.int64)
    _, first = np.unique(labels[in_pair], return_index=True)
    renumber = {lab: k for k, lab in enumerate(labels[in_pair][np.sort(first)])}
    out[in_pair] = [renumber[lab] for lab in labels[in_pair]]
    return out


def pair_clusters(rows: pd.DataFrame, pairs: pd.DataFrame, rule: KeepRule) -> pd.DataFrame:
    """Members of every cluster (rows = positions in `rows`): row, cluster, keep, blocked_by, score.

    No chaining: walking the rows in keep-rule order, a row becomes a duplicate of the best-scoring row already
    kept that it passes against (ties by keep order), else it is kept. So each cluster is one kept row with the
    rows that each match it at the threshold; A~B and B~C never put A and C together unless A~C.
    """
    return assign_to_kept(len(rows), pairs, keep_order(rows, rule))


def assign_to_kept(n: int, pairs: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    """Walk `order`; each row joins the best-scoring kept row it has a pair with, else is kept. Returns the
    clusters (row, cluster, keep, blocked_by, score = score against the kept row)."""
    dropped = greedy_walk(n, pairs, order)
    members = greedy_clusters(n, dropped)
    members["score"] = members["row"].map(dict(zip(dropped["row"], dropped["score"], strict=True)))
    return members


def keep_order(rows: pd.DataFrame, rule: KeepRule) -> np.ndarray:
    """Positions of `rows` in keep-rule order (the row kept first comes first)."""
    if rows.empty:
        return np.zeros(0, dtype=np.int64)
    return np.argsort(rule.rank(rows.reset_index(drop=True)).to_numpy(), kind="stable")


def greedy_order(rows: pd.DataFrame, order: str) -> np.ndarray:
    """Walk order for the greedy filter: 'seeds_first' (seeds, then creation time), 'created', or 'id'."""
    if order not in GREEDY_ORDERS:
        raise ValueError(f"order must be one of {GREEDY_ORDERS}; got {order!r}")
    key = pd.DataFrame({"id": rows["id"].to_numpy()})
    columns = ["id"]
    if order in ("seeds_first", "created"):
        key["created"] = rows["created_at"].to_numpy()
        columns = ["created", "id"]
    if order == "seeds_first":
        key["seed"] = (rows["origin"] != "seed").to_numpy()
        columns = ["seed", *columns]
    return key.sort_values(columns, kind="stable").index.to_numpy()


def greedy_walk(n: int, pairs: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    """Self-Instruct filter over all passing pairs: walking `order`, a row is dropped when it is a duplicate of
    a row already kept. Returns the dropped rows: row, blocked_by (the kept row with the highest score, ties
    by walk order), score."""
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    a, b, score = pairs["a"].to_numpy(), pairs["b"].to_numpy(), pairs["score"].to_numpy()
    # Orient each pair from the earlier row in the walk to the later one.
    early = np.where(position[a] < position[b], a, b)
    late = np.where(position[a] < position[b], b, a)
    by_late = np.lexsort((position[early], -score, position[late]))
    early, late, score = early[by_late], late[by_late], score[by_late]
    kept = np.ones(n, dtype=bool)
    dropped: list[tuple[int, int, float]] = []
    starts = np.flatnonzero(np.r_[True, late[1:] != late[:-1]]) if len(late) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(late)] if len(late) else np.zeros(0, np.int64)
    for s, e in zip(starts, ends, strict=True):  # rows in walk order; their partners best score first
        for k in range(s, e):
            if kept[early[k]]:
                kept[late[s]] = False
                dropped.append((int(late[s]), int(early[k]), float(score[k])))
                break
    return pd.DataFrame(dropped, columns=["row", "blocked_by", "score"]).astype(
        {"row": "int64", "blocked_by": "int64", "score": "float64"}
    )


def greedy_clusters(n: int, dropped: pd.DataFrame) -> pd.DataFrame:
    """Clusters of the greedy filter: each kept row with the rows it blocked (row, cluster, keep, blocked_by)."""
    labels = cluster_labels(n, dropped["row"].to_numpy(), dropped["blocked_by"].to_numpy())
    members = pd.DataFrame({"row": np.flatnonzero(labels >= 0)})
    members["cluster"] = labels[members["row"]]
    blocked = dict(zip(dropped["row"], dropped["blocked_by"], strict=True))
    members["keep"] = ~members["row"].isin(blocked)
    members["blocked_by"] = members["row"].map(blocked).astype("Int64")
    return members
