"""A dedup run end to end: load rows, find similar pairs, cluster, choose kept rows, record, apply, undo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curation import config
from curation.dedup import embeddings, encoder, index
from curation.dedup.clusters import GREEDY_ORDERS, KeepRule, assign_to_kept, greedy_order, pair_clusters
from curation.dedup.rouge import TOKENIZERS, check_rule, check_threshold
from curation.dedup.rouge_join import nearest_scores, rouge_self_join, tokenize_texts
from curation.dedup.scopes import check_scope, scope_texts, text_hash
from curation.filters import STATUSES, ExampleFilter
from curation.jobs import JobContext
from curation.store import Store, examples, revisions, team
from curation.store import dedup as dedup_store

Progress = Callable[[float, str], None]
METHODS = ("rouge", "embedding")
MODES = ("pairs", "greedy")
DEFAULT_THRESHOLDS = {"rouge": 0.7, "embedding": 0.9}
HISTOGRAM_SAMPLE = {"rouge": 300, "embedding": 500}
HISTOGRAM_BINS = 50
ROW_COLUMNS = ("id", "instruction", "input", "output", "messages", "status", "origin", "created_at", "source_row")


def default_rule(mode: str) -> str:
    """Greedy mode is the Self-Instruct filter, which drops when score > threshold; pairs mode uses >=."""
    return "gt" if mode == "greedy" else "ge"


@dataclass(frozen=True)
class DedupConfig:
    """What to compare and how: method, mode, threshold and rule, text scope, rows, keep rule."""

    method: str = "rouge"
    mode: str = "pairs"
    threshold: float | None = None
    rule: str | None = None  # default: 'gt' in greedy mode (the Self-Instruct / Alpaca filter), else 'ge'
    scope: str = "instruction"
    tokenizer: str = "rouge"
    order: str = "seeds_first"
    sources: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ("pending", "approved")
    keep: KeepRule = field(default_factory=KeepRule)
    embedding_model: str | None = None
    embedding_backend: str | None = None  # None: the embedding_backend setting (see encoder.BACKENDS)
    embedding_search: str | None = None  # None: the embedding_search setting (see index.SEARCHES)
    ray_address: str | None = None  # None: the ray_address setting; '': this process; 'local' or a cluster address

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {self.method!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {self.mode!r}")
        if self.order not in GREEDY_ORDERS:
            raise ValueError(f"order must be one of {GREEDY_ORDERS}; got {self.order!r}")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}; got {self.tokenizer!r}")
        if set(self.statuses) - set(STATUSES):
            raise ValueError(f"statuses must be among {STATUSES}; got {list(self.statuses)}")
        if self.embedding_backend is not None and self.embedding_backend not in encoder.BACKENDS:
            raise ValueError(f"embedding backend must be one of {encoder.BACKENDS}; got {self.embedding_backend!r}")
        if self.embedding_search is not None and self.embedding_search not in index.SEARCHES:
            raise ValueError(f"embedding search must be one of {index.SEARCHES}; got {self.embedding_search!r}")
        if self.ray_address:
            from curation.dedup import distributed  # optional: needs ray

            try:
                distributed.ray_module()
            except RuntimeError as err:
                raise ValueError(str(err)) from None
        check_scope(self.scope)
        if self.rule is None:
            object.__setattr__(self, "rule", default_rule(self.mode))
        check_rule(self.rule)
        check_threshold(self.effective_threshold)
        if self.rule == "gt" and self.effective_threshold >= 1.0:
            raise ValueError("no score is > 1; use the rule 'ge' (score >= 1) to find exact duplicates")

    @property
    def effective_threshold(self) -> float:
        return float(self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.method])

    def example_filter(self) -> ExampleFilter:
        return ExampleFilter(sources=list(self.sources), statuses=list(self.statuses))

    def params(self) -> dict[str, Any]:
        """JSON-able description for job and run records."""
        data = asdict(self)
        data["threshold"] = self.effective_threshold
        return data

    def label(self) -> str:
        """Short human description, e.g. 'ROUGE-L >= 0.7 on instruction'."""
        name = "ROUGE-L" if self.method == "rouge" else "cosine"
        extra = " (unicode tokens)" if self.method == "rouge" and self.tokenizer == "unicode" else ""
        op = ">=" if self.rule == "ge" else ">"
        return f"{name}{extra} {op} {self.effective_threshold:g} on {self.scope}"


@dataclass
class DedupOutcome:
    """What a run found (positions refer to `rows`)."""

    rows: pd.DataFrame
    pairs: pd.DataFrame  # a, b, score (positions)
    members: pd.DataFrame  # row, cluster, keep, blocked_by (position), score
    embedded: int = 0
    histogram: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    runtime: str | None = None  # the embedding backend that ran (resolved from 'auto')

    def summary(self) -> dict[str, Any]:
        dropped = int((~self.members["keep"]).sum()) if len(self.members) else 0
        return {
            "run_id": self.run_id,
            "rows": len(self.rows),
            "pairs": len(self.pairs),
            "clusters": int(self.members["cluster"].nunique()) if len(self.members) else 0,
            "duplicates": dropped,
            "embedded": self.embedded,
        } | ({"embedding_backend": self.runtime} if self.runtime else {})


def load_rows(store: Store, flt: ExampleFilter) -> pd.DataFrame:
    """The rows a run compares, ordered by id."""
    return examples.fetch(store, flt, ROW_COLUMNS).reset_index(drop=True)


def embed_texts(
    store: Store,
    texts: list[str],
    scope: str,
    model_path: str | None = None,
    embed: embeddings.Embedder | None = None,
    progress: Progress | None = None,
    backend: str | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for `texts`, from the store's cache where possible; returns (vectors, number newly embedded).
    `backend` (default: the embedding_backend setting) picks the runtime and so the cache key."""
    path = embeddings.model_dir(model_path)
    key = embeddings.model_key(path, backend)
    hashes = [text_hash(t) for t in texts]
    found, cached = dedup_store.load_vectors(store, key, scope, hashes)
    missing = np.setdiff1d(np.arange(len(texts)), found)
    if progress and len(missing):  # the first batch waits for the model: say so, not "0 of N" with no reason
        progress(0.0, f"loading the embedding model {path.name} for {len(missing):,} texts ({len(found):,} cached)")
    embed = embed or embeddings.model_embedder(path, backend=backend)

    def cache(positions: np.ndarray, vectors: np.ndarray) -> None:  # per batch: a cancelled run keeps its work
        dedup_store.save_vectors(store, key, scope, [hashes[missing[p]] for p in positions], vectors)

    new = None
    if len(missing):
        new = embeddings.embed_in_batches([texts[i] for i in missing], embed, progress, on_batch=cache)
    dim = cached.shape[1] if len(found) else (new.shape[1] if new is not None else 0)
    vectors = np.zeros((len(texts), dim), dtype=np.float32)
    if len(found):
        vectors[found] = cached
    if new is not None:
        vectors[missing] = new
    return vectors, len(missing)


def find_pairs(
    store: Store,
    cfg: DedupConfig,
    texts: list[str],
    progress: Progress | None = None,
    embed: embeddings.Embedder | None = None,
) -> tuple[pd.DataFrame, int, np.ndarray]:
    """Similar pairs (a < b positions in `texts`, score) by the configured method, the number of rows newly
    embedded, and the nearest-neighbour similarity of a sample of rows (for choosing a threshold)."""
    sample = histogram_rows(len(texts), HISTOGRAM_SAMPLE[cfg.method])
    if cfg.method == "rouge":
        if progress:
            progress(0.0, f"tokenising {len(texts):,} texts")
        tok = tokenize_texts(texts, cfg.tokenizer)
        pairs = rouge_self_join(tok, cfg.effective_threshold, cfg.rule, progress)
        return pairs, 0, nearest_scores(tok, sample)
    embed_progress = _scaled(progress, 0.0, 0.8)
    vectors, embedded = embed_texts(
        store, texts, cfg.scope, cfg.embedding_model, embed, embed_progress, cfg.embedding_backend
    )
    search_progress = _scaled(progress, 0.8, 1.0)
    pairs = embeddings.cosine_pairs(
        vectors, cfg.effective_threshold, cfg.rule, search_progress, search=cfg.embedding_search
    )
    return pairs, embedded, embeddings.nearest_neighbour_similarity(vectors, rows=sample)


def histogram_rows(n: int, size: int, seed: int = 0) -> np.ndarray:
    """A fixed random sample of row positions (all rows when there are few)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def histogram(values: np.ndarray) -> dict[str, Any]:
    """Counts of nearest-neighbour similarities in HISTOGRAM_BINS equal bins over [0, 1]."""
    counts, edges = np.histogram(np.clip(values, 0, 1), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    return {"edges": [round(float(e), 4) for e in edges], "counts": counts.tolist(), "sample": len(values)}


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(lo + (hi - lo) * fraction, message)


def decide(rows: pd.DataFrame, pairs: pd.DataFrame, cfg: DedupConfig) -> pd.DataFrame:
    """Cluster members: each kept row with the rows that match it (row, cluster, keep, blocked_by, score = the
    score against the kept row). Pairs mode walks the keep-rule order, greedy mode the configured walk order."""
    if cfg.mode == "pairs":
        return pair_clusters(rows, pairs, cfg.keep)
    return assign_to_kept(len(rows), pairs, greedy_order(rows, cfg.order))


def run_dedup(
    store: Store,
    cfg: DedupConfig,
    progress: Progress | None = None,
    *,
    embed: embeddings.Embedder | None = None,
    job_id: int | None = None,
    author: str | None = None,
    save: bool = True,
) -> DedupOutcome:
    """Find duplicates among the configured rows and record the run (nothing is marked until applied)."""
    rows = load_rows(store, cfg.example_filter())
    texts = scope_texts(rows, cfg.scope)
    with config.scoped({"ray_address": cfg.ray_address}):
        pairs, embedded, nearest = find_pairs(store, cfg, texts, _scaled(progress, 0.0, 0.95), embed)
    outcome = DedupOutcome(rows, pairs, decide(rows, pairs, cfg), embedded, histogram=histogram(nearest))
    if cfg.method == "embedding" and embed is None:
        outcome.runtime = embeddings.runtime_for(cfg.embedding_model, cfg.embedding_backend)
    if save:
        outcome.run_id = _record(store, cfg, outcome, job_id, author)
    if progress:
        progress(1.0, f"{len(pairs):,} pairs, {outcome.summary()['clusters']:,} clusters")
    return outcome


def _record(store: Store, cfg: DedupConfig, outcome: DedupOutcome, job_id: int | None, author: str | None) -> int:
    ids = outcome.rows["id"].to_numpy()
    pairs = pd.DataFrame(
        {"a_id": ids[outcome.pairs["a"]], "b_id": ids[outcome.pairs["b"]], "score": outcome.pairs["score"]}
    )
    members = outcome.members.assign(
        example_id=ids[outcome.members["row"]],
        blocked_by=outcome.members["blocked_by"].map(lambda r: None if pd.isna(r) else int(ids[int(r)])),
    )
    run = {
        "method": cfg.method,
        "mode": cfg.mode,
        "scope": cfg.scope,
        "threshold": cfg.effective_threshold,
        "rule": cfg.rule,
        "params": cfg.params() | {"histogram": outcome.histogram, "embedding_runtime": outcome.runtime},
        "job_id": job_id,
        "row_count": len(outcome.rows),
        "author": author,
    }
    return dedup_store.create_run(store, run, pairs, members)


def job_progress(ctx: JobContext) -> Progress:
    """Adapt a job context to the (fraction, message) progress hook the dedup stages call."""
    return lambda fraction, message: ctx.progress(fraction, None, message)


def dedup_job(cfg: DedupConfig, author: str, embed: embeddings.Embedder | None = None) -> Callable[[JobContext], dict]:
    """A JobRunner function that runs `cfg` and returns the run summary."""

    def job(ctx: JobContext) -> dict:
        outcome = run_dedup(ctx.store, cfg, job_progress(ctx), embed=embed, job_id=ctx.job_id, author=author)
        return outcome.summary()

    return job


def run_label(run: dict[str, Any]) -> str:
    """e.g. 'ROUGE-L >= 0.7 on instruction, pairs' for a stored run."""
    name = {"rouge": "ROUGE-L", "embedding": "cosine"}.get(run["method"], run["method"])
    if run["method"] == "rouge" and (run.get("params") or {}).get("tokenizer") == "unicode":
        name += " (unicode tokens)"
    op = ">=" if run["rule"] == "ge" else ">"
    return f"{name} {op} {run['threshold']:g} on {run['scope']}, {run['mode']}"


def is_applied(run: dict[str, Any]) -> bool:
    """Whether the run's decisions are in effect (applied and not undone)."""
    return run.get("applied_action") is not None and run.get("applied_undone_by") is None


def reason(run: dict[str, Any], kept_id: int, score: float | None) -> str:
    """status_reason of a row marked duplicate: the kept row, the score against it, method and threshold."""
    shown = "" if score is None or pd.isna(score) else f", score {score_text(score)}"
    return f"dedup run {run['id']}: duplicate of #{kept_id}{shown} ({run_label(run)})"


def score_text(score: float) -> str:
    """A score as shown to users (6 significant digits: a passing score never reads as the threshold)."""
    return f"{score:.6g}"


class AlreadyApplied(ValueError):
    """The run's decisions are in effect; undo them before applying again."""


class ChangedSinceApply(revisions.UndoConflictError):
    """Rows an applied dedup marked were changed since; undoing would overwrite that later work."""

    def __init__(self, action_id: int, changed: pd.DataFrame) -> None:
        self.changed = changed
        rows = sorted(int(i) for i in changed["example_id"].drop_duplicates())
        listed = "; ".join(describe_change(r) for r in changed.head(5).itertuples(index=False))
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        message = (
            f"{len(rows)} rows marked by action {action_id} were changed since ({listed}{more}); undo the later "
            "action(s) first, undo only the unchanged rows, or force the undo to put back the values from before the "
            "dedup on those rows too"
        )
        super().__init__(message, action_id, rows, [])


def describe_change(change: Any) -> str:
    by = f"by action {int(change.changed_by)} ({change.changed_by_kind})" if pd.notna(change.changed_by) else ""
    current = None if pd.isna(change.current) else change.current
    return f"#{int(change.example_id)} {change.field} is now {current!r} {by}".rstrip()


def apply_run(store: Store, run_id: int, *, author: str, accept_all: bool = False) -> revisions.ActionResult:
    """Mark the non-kept members of the run's accepted clusters duplicate, as one undoable 'dedup' action."""
    team.authorize(store, "dedup")  # before anything, even the accept-all bookkeeping, is touched
    run = dedup_store.get_run(store, run_id)
    if run is None:
        raise KeyError(f"dedup run {run_id} does not exist")
    if run["method"] not in METHODS:
        raise ValueError(f"run {run_id} is a {run['method']} run; it has no duplicates to apply")
    if is_applied(run):
        raise AlreadyApplied(
            f"dedup run {run_id} is already applied as action {run['applied_action']}; undo that action first "
            "to apply it again"
        )
    if accept_all:
        dedup_store.set_accepted(store, run_id, True)
    dupes = dedup_store.duplicate_rows(store, run_id)
    if dupes.empty:
        raise ValueError(f"dedup run {run_id} has no accepted duplicates to apply; accept clusters first")
    reasons = [reason(run, k, s) for k, s in zip(dupes["kept_id"], dupes["score"], strict=True)]
    changes = pd.concat(
        [
            pd.DataFrame({"example_id": dupes["example_id"], "field": "status", "new_value": "duplicate"}),
            pd.DataFrame({"example_id": dupes["example_id"], "field": "status_reason", "new_value": reasons}),
        ]
    )
    with store.transaction():
        result = revisions.apply_changes(
            store,
            changes,
            kind="dedup",
            author=author,
            description=f"dedup run {run_id}: {len(dupes)} rows marked duplicate",
            params={"run_id": int(run_id)},
        )
        if result.action_id is None:
            raise AlreadyApplied(f"dedup run {run_id}: every accepted duplicate is already marked so; nothing changed")
        dedup_store.mark_applied(store, run_id, result.action_id)
    return result


def undo_run(
    store: Store, action_id: int, *, author: str, force: bool = False, skip_changed: bool = False
) -> revisions.ActionResult:
    """Undo an applied dedup action in one step (every status and reason goes back).

    Refused with ChangedSinceApply (which lists the rows) when a later run, review or edit changed rows it
    marked, unless `force` (overwrite them) or `skip_changed` (leave them as they are) is given.
    """
    action = revisions.get_action(store, action_id)
    if action is None:
        raise KeyError(f"action {action_id} does not exist")
    if action["kind"] not in ("dedup", "tag"):
        raise ValueError(f"action {action_id} is a {action['kind']!r} action, not a dedup action")
    if action["undone_by"] is None and not force and not skip_changed:
        changed = dedup_store.changed_since(store, action_id)
        if len(changed):
            raise ChangedSinceApply(action_id, changed)
    return revisions.undo_action(store, action_id, author=author, force=force, skip_changed=skip_changed)


def split_off(store: Store, run_id: int, cluster: int, example_id: int, rule: KeepRule | None = None) -> int:
    """Take a false positive out of its cluster; if it was the kept row, the keep rule picks another among the
    rest. Returns how many further members were split off because they do not match the new kept row."""
    members = dedup_store.cluster_members(store, run_id, cluster)
    if int(example_id) not in set(members["id"]):
        raise KeyError(f"example {example_id} is not in cluster {cluster} of dedup run {run_id}")
    dedup_store.set_split(store, run_id, example_id, True)
    dedup_store.set_accepted(store, run_id, True, cluster)
    if not bool(members.loc[members["id"] == example_id, "keep"].iloc[0]):
        return 0
    rest = members[(members["id"] != example_id) & ~members["split"]].reset_index(drop=True)
    if len(rest):
        best = (rule or KeepRule()).rank(rest).idxmin()
        return dedup_store.set_kept(store, run_id, cluster, int(rest.loc[best, "id"]))
    return 0


def pair_records(outcome: DedupOutcome) -> list[dict[str, Any]]:
    """Lines of a pairs file: every pair (a before b by source row, then id), then one line per dropped row with
    the kept row it duplicates and the score between them."""
    rows = outcome.rows
    ids, src_rows = rows["id"].to_numpy(), rows["source_row"].to_numpy()
    sources = rows["source"].to_numpy() if "source" in rows else np.full(len(rows), None)
    out: list[dict[str, Any]] = []
    for a, b, score in outcome.pairs[["a", "b", "score"]].itertuples(index=False, name=None):
        if (src_rows[b], ids[b]) < (src_rows[a], ids[a]):
            a, b = b, a
        out.append(
            {
                "kind": "pair",
                "a_id": int(ids[a]),
                "b_id": int(ids[b]),
                "a_row": int(src_rows[a]),
                "b_row": int(src_rows[b]),
                "a_source": sources[a],
                "b_source": sources[b],
                "score": float(score),
            }
        )
    dropped = outcome.members[~outcome.members["keep"]].sort_values("row")
    for row, kept, score in dropped[["row", "blocked_by", "score"]].itertuples(index=False, name=None):
        out.append(
            {
                "kind": "dropped",
                "dropped": int(ids[row]),
                "dropped_row": int(src_rows[row]),
                "kept": int(ids[int(kept)]),
                "kept_row": int(src_rows[int(kept)]),
                "score": float(score),
            }
        )
    return out
