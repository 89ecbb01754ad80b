"""The embarrassingly parallel dedup stages on Ray (optional: `pip install "ray[data]"`), same results as in
process: embedding (Ray Data `map_batches` over the texts, one model per worker), ROUGE-L candidate generation +
exact LCS (one Ray task per group of length-band pairs of the join plan) and cosine search (one task per group
of row blocks). Clustering and the keep decision stay on the driver (`curation.dedup.runs`), deterministic.

Switched on by the `ray_address` setting (`--ray ADDRESS` on the CLI): 'local' starts Ray on this machine,
anything else is passed to `ray.init(address=...)` (e.g. 'auto' inside a cluster, or 'ray://head:10001').
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

Progress = Callable[[float, str], None]
TASKS_PER_CPU = 4


def ray_module() -> Any:
    """The ray package, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RuntimeError('Ray is not installed: pip install "ray[data]" (or run without --ray)') from None
    return ray


def connect(address: str) -> Any:
    """ray, initialised once per process ('local': this machine, with its CPUs)."""
    ray = ray_module()
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    return ray


def _groups(items: list, cpus: int) -> list[list]:
    parts = max(1, min(len(items), cpus * TASKS_PER_CPU))
    return [items[i::parts] for i in range(parts) if items[i::parts]]


def _cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_plan(plan: Any, address: str, progress: Progress | None = None) -> list[tuple[np.ndarray, ...]]:
    """All steps of a ROUGE-L `JoinPlan` as Ray tasks; the same found pairs as `rouge_join.run_steps`."""
    from curation.dedup import rouge_join

    ray = connect(address)
    shared = ray.put(plan)
    task = ray.remote(lambda p, steps: rouge_join.run_steps(p, steps))
    futures = [task.remote(shared, group) for group in _groups(plan.steps, _cpus(ray))]
    return [item for found in _gather(ray, futures, progress, "length-band groups") for item in found]


def cosine_blocks(unit: np.ndarray, screen: np.ndarray, starts: list[int], args: tuple, address: str, progress):
    """`embeddings._row_block_pairs` for every block of rows, as Ray tasks (groups of blocks per task)."""
    from curation.dedup import embeddings

    ray = connect(address)
    unit_ref, screen_ref = ray.put(unit), ray.put(screen)

    def blocks(u: np.ndarray, s: np.ndarray, rows: list[int]) -> list:
        return [embeddings.row_block_pairs(u, s, r, *args) for r in rows]

    task = ray.remote(blocks)
    futures = [task.remote(unit_ref, screen_ref, group) for group in _groups(starts, _cpus(ray))]
    return [item for found in _gather(ray, futures, progress, "row-block groups") for item in found]


def _gather(ray: Any, futures: list, progress: Progress | None, what: str) -> list:
    results: dict[int, Any] = {}
    index_of = {f: i for i, f in enumerate(futures)}
    pending = list(futures)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        results[index_of[done[0]]] = ray.get(done[0])
        if progress:
            progress(len(results) / len(futures), f"{what} {len(results)}/{len(futures)} done on Ray")
    return [results[i] for i in range(len(futures))]


class _Embed:
    """A Ray Data actor: loads the model once, embeds batches of texts."""

    def __init__(self, model_path: str, backend: str) -> None:
        from pathlib import Path

        from curation.dedup import embeddings

        self.embed = embeddings.local_embedder(Path(model_path), backend)  # never Ray again inside a worker

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        vectors = self.embed(batch["text"].tolist())
        return pd.DataFrame({"position": batch["position"].to_numpy(), "vector": list(vectors)})


def embed_texts(texts: list[str], model_path: str, backend: str, address: str, batch_size: int = 512) -> np.ndarray:
    """Vectors of `texts` (in order) computed by Ray Data workers, each with its own model."""
    ray = connect(address)
    frame = pd.DataFrame({"position": np.arange(len(texts)), "text": texts})
    workers = max(1, min(_cpus(ray), -(-len(texts) // batch_size)))
    data = ray.data.from_pandas(frame).repartition(workers * 2)
    embedded = data.map_batches(
        _Embed,
        fn_constructor_args=(model_path, backend),
        batch_size=batch_size,
        batch_format="pandas",
        concurrency=workers,
    ).to_pandas()
    embedded = embedded.sort_values("position")
    return np.stack(embedded["vector"].to_numpy()).astype(np.float32)
