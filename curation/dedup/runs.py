"""A dedup run end to end: load rows, find similar pairs, cluster, choose kept rows, record, apply, undo."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curation.dedup import embeddings, encoder, index
from curation.dedup.clusters import GREEDY_ORDERS, KeepRule, assign_to_kept, greedy_order, pair_clusters
from curation.dedup.rouge import TOKENIZERS, check_rule, check_threshold
from curation.dedup.rouge_join import nearest_scores, rouge_self_join, tokenize_texts
from curation.dedup.scopes import SCOPES, check_scope, scope_text_array, text_hash
from curation.executors import IN_PROCESS, Executor
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
META_COLUMNS = ("id", "status", "origin", "created_at", "source_row")  # what clustering and the keep rule read
NEAREST_OTHERS = 20_000  # the histogram compares its sample rows with up to this many others (exact at or below)


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
    executor: str = "in-process"  # where the parallel stages ran

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


def load_compared(store: Store, flt: ExampleFilter, scope: str) -> tuple[pd.DataFrame, pa.Array]:
    """The rows a run compares, ordered by id, read column by column: what clustering and the keep rule need
    (META_COLUMNS, `output_chars`, `source` as a category) and the compared texts of the scope as one Arrow
    array (no copy of the rows' texts beyond the scope's fields)."""
    table = examples.fetch_table(store, flt, (*META_COLUMNS, *SCOPES[scope]), output_chars=True)
    texts = scope_text_array(table, scope)
    meta = table.select([*META_COLUMNS, "output_chars", "source"])
    del table
    return meta.to_pandas(), texts


def embed_texts(
    store: Store,
    texts: list[str],
    scope: str,
    model_path: str | None = None,
    embed: embeddings.Embedder | None = None,
    progress: Progress | None = None,
    backend: str | None = None,
    executor: Executor = IN_PROCESS,
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
    embed = embed or embeddings.model_embedder(path, backend=backend, executor=executor)

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
    texts: list[str] | pa.Array,
    progress: Progress | None = None,
    embed: embeddings.Embedder | None = None,
    executor: Executor = IN_PROCESS,
) -> tuple[pd.DataFrame, int, np.ndarray]:
    """Similar pairs (a < b positions in `texts`, score) by the configured method, the number of rows newly
    embedded, and the nearest-neighbour similarity of a sample of rows (for choosing a threshold; for ROUGE-L
    exact where it passes the threshold, and among NEAREST_OTHERS other rows below it)."""
    sample = histogram_rows(len(texts), HISTOGRAM_SAMPLE[cfg.method])
    if cfg.method == "rouge":
        if progress:
            progress(0.0, f"tokenising {len(texts):,} texts")
        if cfg.tokenizer != "rouge" and isinstance(texts, pa.Array):
            texts = texts.to_pylist()
        tok = tokenize_texts(texts, cfg.tokenizer, executor)
        del texts
        pairs = rouge_self_join(tok, cfg.effective_threshold, cfg.rule, progress, executor=executor)
        others = histogram_rows(len(tok.lengths), NEAREST_OTHERS, seed=1)
        return pairs, 0, np.maximum(nearest_scores(tok, sample, others), best_pair_scores(pairs, sample))
    if isinstance(texts, pa.Array):
        texts = texts.to_pylist()
    embed_progress = _scaled(progress, 0.0, 0.8)
    vectors, embedded = embed_texts(
        store, texts, cfg.scope, cfg.embedding_model, embed, embed_progress, cfg.embedding_backend, executor
    )
    search_progress = _scaled(progress, 0.8, 1.0)
    pairs = embeddings.cosine_pairs(
        vectors, cfg.effective_threshold, cfg.rule, search_progress, search=cfg.embedding_search, executor=executor
    )
    return pairs, embedded, embeddings.nearest_neighbour_similarity(vectors, rows=sample)


def best_pair_scores(pairs: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Highest score of each of `rows` (sorted positions) among the pairs (0 where it has none)."""
    best = np.zeros(len(rows))
    for side in ("a", "b"):
        where = np.searchsorted(rows, pairs[side].to_numpy())
        hit = (where < len(rows)) & (rows[np.minimum(where, len(rows) - 1)] == pairs[side].to_numpy())
        np.maximum.at(best, where[hit], pairs["score"].to_numpy()[hit])
    return best


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
    executor: Executor = IN_PROCESS,
) -> DedupOutcome:
    """Find duplicates among the configured rows and record the run (nothing is marked until applied); the
    parallel stages run on `executor` (this process unless given)."""
    rows, texts = load_compared(store, cfg.example_filter(), cfg.scope)
    pairs, embedded, nearest = find_pairs(store, cfg, texts, _scaled(progress, 0.0, 0.95), embed, executor)
    outcome = DedupOutcome(rows, pairs, decide(rows, pairs, cfg), embedded, histogram(nearest), executor=executor.name)
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
    blocked = outcome.members["blocked_by"]
    kept_ids = pd.Series(ids[blocked.fillna(0).to_numpy(dtype=np.int64)], index=blocked.index, dtype="Int64")
    members = outcome.members.assign(example_id=ids[outcome.members["row"]], blocked_by=kept_ids.mask(blocked.isna()))
    run = {
        "method": cfg.method,
        "mode": cfg.mode,
        "scope": cfg.scope,
        "threshold": cfg.effective_threshold,
        "rule": cfg.rule,
        "params": cfg.params()
        | {"histogram": outcome.histogram, "embedding_runtime": outcome.runtime, "executor": outcome.executor},
        "job_id": job_id,
        "row_count": len(outcome.rows),
        "author": author,
    }
    return dedup_store.create_run(store, run, pairs, members)


PROGRESS_SECONDS = 0.2  # a stage may report hundreds of steps a second; the job row (and cancel check) needs fewer


def job_progress(ctx: JobContext, clock: Callable[[], float] = time.monotonic) -> Progress:
    """Adapt a job context to the (fraction, message) progress hook the dedup stages call, passing on at most one
    update per PROGRESS_SECONDS (and every start and end of a stage)."""
    last = [-PROGRESS_SECONDS]

    def progress(fraction: float, message: str) -> None:
        now = clock()
        if now - last[0] >= PROGRESS_SECONDS or fraction in (0.0, 1.0):
            last[0] = now
            ctx.progress(fraction, None, message)

    return progress


def dedup_job(
    cfg: DedupConfig, author: str, embed: embeddings.Embedder | None = None, executor: Executor = IN_PROCESS
) -> Callable[[JobContext], dict]:
    """A JobRunner function that runs `cfg` on `executor` and returns the run summary."""

    def job(ctx: JobContext) -> dict:
        outcome = run_dedup(
            ctx.store, cfg, job_progress(ctx), embed=embed, job_id=ctx.job_id, author=author, executor=executor
        )
        summary = outcome.summary()
        del outcome
        give_back_free_memory()  # a server runs this job: its memory should drop back once the run is recorded
        return summary

    return job


def give_back_free_memory() -> None:
    """Collect garbage and return free heap pages (Arrow's pool, glibc's malloc_trim) to the system."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # no glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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
    """Lines of a pairs file (`pair_lines`) as dicts."""
    return [json.loads(line) for line in pair_lines(outcome)]


def pair_lines(outcome: DedupOutcome) -> Iterator[str]:
    """JSON lines of a pairs file: every pair (a before b by source row, then id), then one line per dropped row
    with the kept row it duplicates and the score between them. Formatted column by column (a 1M-row run has
    ~0.5M pairs): the same text `json.dumps` writes for these dicts."""
    rows = outcome.rows
    ids, src_rows = rows["id"].to_numpy(np.int64), rows["source_row"].to_numpy(np.int64)
    source = rows["source"] if "source" in rows else pd.Series(pd.Categorical([None] * len(rows)))
    source = source.astype("category")
    names = [json.dumps(name, ensure_ascii=False) for name in source.cat.categories] + ["null"]
    codes = source.cat.codes.to_numpy()  # -1 (missing) picks "null"
    a, b = outcome.pairs["a"].to_numpy(np.int64), outcome.pairs["b"].to_numpy(np.int64)
    swap = (src_rows[b] < src_rows[a]) | ((src_rows[b] == src_rows[a]) & (ids[b] < ids[a]))
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    columns = (ids[a], ids[b], src_rows[a], src_rows[b], codes[a], codes[b], outcome.pairs["score"].to_numpy())
    for ai, bi, ar, br, asrc, bsrc, score in zip(*(c.tolist() for c in columns), strict=True):
        yield (
            f'{{"kind": "pair", "a_id": {ai}, "b_id": {bi}, "a_row": {ar}, "b_row": {br}, '
            f'"a_source": {names[asrc]}, "b_source": {names[bsrc]}, "score": {_json_number(score)}}}'
        )
    dropped = outcome.members[~outcome.members["keep"]].sort_values("row")
    row, kept = dropped["row"].to_numpy(np.int64), dropped["blocked_by"].to_numpy(np.int64)
    columns = (ids[row], src_rows[row], ids[kept], src_rows[kept], dropped["score"].to_numpy(np.float64))
    for di, dr, ki, kr, score in zip(*(c.tolist() for c in columns), strict=True):
        yield (
            f'{{"kind": "dropped", "dropped": {di}, "dropped_row": {dr}, "kept": {ki}, "kept_row": {kr}, '
            f'"score": {_json_number(score)}}}'
        )


def _json_number(value: float) -> str:
    return repr(value) if math.isfinite(value) else json.dumps(value)
