"""Contamination check: curated rows that match an evaluation set (which is parsed, compared, never stored)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from curation.dedup import embeddings
from curation.dedup.rouge import TOKENIZERS, check_rule, check_threshold
from curation.dedup.rouge_join import rouge_cross_join, tokenize_texts
from curation.dedup.runs import DEFAULT_THRESHOLDS, METHODS, embed_texts, job_progress, load_rows
from curation.dedup.scopes import check_scope, scope_texts
from curation.filters import ExampleFilter
from curation.io import importers
from curation.jobs import JobContext
from curation.store import Store, revisions
from curation.store import dedup as dedup_store

Progress = Callable[[float, str], None]
TAG = "contaminated"


@dataclass(frozen=True)
class ContaminationConfig:
    """How curated rows are compared with the evaluation rows."""

    method: str = "rouge"
    threshold: float | None = None
    rule: str = "ge"
    scope: str = "instruction"
    tokenizer: str = "rouge"
    sources: tuple[str, ...] = ()
    embedding_model: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {self.method!r}")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}; got {self.tokenizer!r}")
        check_scope(self.scope)
        check_rule(self.rule)
        check_threshold(self.effective_threshold)

    @property
    def effective_threshold(self) -> float:
        return float(self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.method])


def match_sets(
    store: Store,
    curated: list[str],
    evaluation: list[str],
    cfg: ContaminationConfig,
    progress: Progress | None = None,
    embed: embeddings.Embedder | None = None,
) -> pd.DataFrame:
    """Pairs (curated position, eval position, score) that pass the threshold."""
    if cfg.method == "rouge":
        tok = tokenize_texts(curated + evaluation, cfg.tokenizer)
        found = rouge_cross_join(tok, len(curated), cfg.effective_threshold, cfg.rule, progress)
        return pd.DataFrame({"curated": found["a"], "eval": found["b"] - len(curated), "score": found["score"]})
    vectors, _ = embed_texts(store, curated, cfg.scope, cfg.embedding_model, embed, progress)
    model = embed or embeddings.model_embedder(embeddings.model_dir(cfg.embedding_model))
    eval_vectors = model(evaluation) if evaluation else np.zeros((0, vectors.shape[1]), np.float32)
    found = embeddings.cross_cosine(vectors, eval_vectors, cfg.effective_threshold, cfg.rule)
    return pd.DataFrame({"curated": found["a"], "eval": found["b"], "score": found["score"]})


def check_contamination(
    store: Store,
    data: bytes,
    file_name: str,
    fmt: str,
    cfg: ContaminationConfig,
    progress: Progress | None = None,
    *,
    mapping: dict[str, str] | None = None,
    embed: embeddings.Embedder | None = None,
    job_id: int | None = None,
    author: str | None = None,
) -> dict[str, Any]:
    """Compare every curated row with the evaluation file; record the matches as a run (rows are not changed)."""
    evaluation = importers.parse(data, file_name, fmt, mapping=mapping, allow_missing_output=True)
    rows = load_rows(store, ExampleFilter(sources=list(cfg.sources)))
    found = match_sets(store, scope_texts(rows, cfg.scope), scope_texts(evaluation, cfg.scope), cfg, progress, embed)
    ids = rows["id"].to_numpy()
    eval_rows = evaluation["source_row"].to_numpy() if "source_row" in evaluation else np.arange(len(evaluation))
    matches = pd.DataFrame(
        {"example_id": ids[found["curated"]], "eval_row": eval_rows[found["eval"]], "score": found["score"]}
    )
    params = asdict(cfg) | {"threshold": cfg.effective_threshold, "eval_file": file_name, "eval_format": fmt}
    run = {
        "method": "contamination",
        "mode": cfg.method,
        "scope": cfg.scope,
        "threshold": cfg.effective_threshold,
        "rule": cfg.rule,
        "params": params,
        "job_id": job_id,
        "row_count": len(rows),
        "author": author,
    }
    with store.transaction():
        run_id = dedup_store.create_run(store, run, pd.DataFrame(columns=["a_id", "b_id", "score"]), pd.DataFrame())
        dedup_store.save_matches(store, run_id, matches)
    return {
        "run_id": run_id,
        "rows": len(rows),
        "eval_rows": len(evaluation),
        "matches": len(matches),
        "matched_rows": int(matches["example_id"].nunique()),
    }


def contamination_job(
    data: bytes, file_name: str, fmt: str, cfg: ContaminationConfig, author: str, mapping: dict[str, str] | None = None
) -> Callable[[JobContext], dict]:
    """A JobRunner function for `check_contamination`."""

    def job(ctx: JobContext) -> dict:
        return check_contamination(
            ctx.store, data, file_name, fmt, cfg, job_progress(ctx), mapping=mapping, job_id=ctx.job_id, author=author
        )

    return job


def flag_matches(store: Store, run_id: int, *, author: str, tag: str = TAG) -> revisions.ActionResult:
    """Tag every matched curated row (one undoable action)."""
    run = dedup_store.get_run(store, run_id)
    if run is None or run["method"] != "contamination":
        raise KeyError(f"contamination run {run_id} does not exist")
    ids = sorted({int(i) for i in dedup_store.matches(store, run_id)["example_id"]})
    if not ids:
        raise ValueError(f"contamination run {run_id} found no matches; nothing to tag")
    with store.transaction():
        result = revisions.set_tag(store, tag, True, author=author, ids=ids, kind="tag")
        dedup_store.mark_applied(store, run_id, result.action_id)
    return result
