"""The embarrassingly parallel dedup stages on Ray (optional: `pip install "ray[data]"`), same results as in
process. The driver writes the compared texts once as Parquet shards (`position`, `text`; SHARD_ROWS rows
each) into the `ray_shards_dir` folder, which a cluster's nodes must all be able to read (shared storage); Ray
Data reads the shards for the row-wise stages: embedding (`map_batches`, one model per worker, through
`embeddings.local_embedder` and the encoder) and ROUGE-L tokenisation (token strings per row; the driver numbers
them in row order, exactly as in process). ROUGE-L candidate generation + exact LCS run as one Ray task per group
of length-band pairs of the join plan, cosine search as one task per group of row blocks (exact search) or of
inverted lists (index search). Element ranks (one global sort), clustering and the keep decision stay on the
driver (`curation.dedup.runs`), deterministic.

Switched on by the `ray_address` setting (`--ray ADDRESS` on the CLI): 'local' starts Ray on this machine,
anything else is passed to `ray.init(address=...)` (e.g. 'auto' inside a cluster, or 'ray://head:10001').
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation import config

Progress = Callable[[float, str], None]
TASKS_PER_CPU = 4
SHARD_ROWS = 50_000


def ray_module() -> Any:
    """The ray package, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RuntimeError('Ray is not installed: pip install "ray[data]" (or run without --ray)') from None
    return ray


def ray_installed() -> bool:
    """Whether ray can be imported (without importing it: that takes seconds)."""
    return importlib.util.find_spec("ray") is not None


def connect(address: str) -> Any:
    """ray, initialised once per process ('local': this machine, with its CPUs)."""
    ray = ray_module()
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
        else:
            check_reachable(address)
            ray.init(address=address, log_to_driver=False)
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line error at once when a cluster address ('host:port' or 'ray://host:port') does not answer (Ray
    itself retries for minutes); 'auto' and other forms are left to Ray."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise RuntimeError(f"cannot reach the Ray cluster at {address}: {err.strerror or err}") from None


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


def index_lists(
    unit: np.ndarray,
    members: list[np.ndarray],
    queries: list[np.ndarray],
    threshold: float,
    dtype: str,
    address: str,
    progress: Progress | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`index.list_pairs` for every inverted list, as Ray tasks (groups of lists per task; each worker picks its
    own screen type, bf16 only where its CPU multiplies bf16 natively)."""
    from curation.dedup import index

    ray = connect(address)
    unit_ref, members_ref, queries_ref = ray.put(unit), ray.put(members), ray.put(queries)
    task = ray.remote(lambda u, m, q, numbers: index.list_pairs(u, m, q, numbers, threshold, dtype, threads=1))
    groups = _groups(list(range(len(members))), _cpus(ray))
    futures = [task.remote(unit_ref, members_ref, queries_ref, group) for group in groups]
    return [item for found in _gather(ray, futures, progress, "list groups") for item in found]


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


@contextmanager
def text_shards(texts: Sequence[str], rows: int = SHARD_ROWS) -> Iterator[Path]:
    """The texts as Parquet shards (`position`, `text`) in a new folder under `ray_shards_dir` (default:
    `cache_dir`/ray-shards), removed afterwards."""
    base = Path(config.get("ray_shards_dir") or Path(config.get("cache_dir")) / "ray-shards")
    folder = base / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        for part, start in enumerate(range(0, max(len(texts), 1), rows)):
            chunk = list(texts[start : start + rows])
            positions = np.arange(start, start + len(chunk), dtype=np.int64)
            table = pa.table({"position": positions, "text": pa.array(chunk, type=pa.large_string())})
            pq.write_table(table, folder / f"part-{part:05d}.parquet")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _token_batch(batch: pa.Table, tokenizer: str) -> pa.Table:
    """Ray Data: the tokens of each row of a batch, as a list column."""
    from curation.dedup.rouge import tokenizer_for
    from curation.dedup.rouge_tokens import rouge_token_strings

    texts = batch.column("text").to_pylist()
    if tokenizer == "rouge":
        flat, lengths = rouge_token_strings(texts)
    else:
        lists = [tokenizer_for(tokenizer)(t) for t in texts]
        flat, lengths = pa.array([w for ws in lists for w in ws], type=pa.large_string()), [len(ws) for ws in lists]
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.table({"position": batch.column("position"), "tokens": pa.LargeListArray.from_arrays(offsets, flat)})


def token_ids(texts: Sequence[str], tokenizer: str, address: str) -> tuple[np.ndarray, np.ndarray]:
    """(token ids flat, tokens per text) as `rouge_join.tokenize_texts` numbers them, tokenised by Ray Data
    workers reading the texts' Parquet shards."""
    from curation.dedup.rouge_tokens import first_seen_ids

    ray = connect(address)
    with text_shards(texts) as folder:
        data = ray.data.read_parquet(str(folder)).map_batches(
            _token_batch, fn_kwargs={"tokenizer": tokenizer}, batch_format="pyarrow"
        )
        table = pa.concat_tables(ray.get(data.to_arrow_refs()))
    if table.num_rows != len(texts):
        raise RuntimeError(f"Ray returned {table.num_rows:,} of {len(texts):,} rows")
    tokens = table.sort_by("position").column("tokens").combine_chunks()
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.chunk(0) if tokens.num_chunks else pa.array([], pa.large_list(pa.large_string()))
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
    return first_seen_ids(pc.list_flatten(tokens)), lengths


class _Embed:
    """A Ray Data actor: loads the model once, embeds batches of texts."""

    def __init__(self, model_path: str, backend: str) -> None:
        from curation.dedup import embeddings

        self.embed = embeddings.local_embedder(Path(model_path), backend)  # never Ray again inside a worker

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        vectors = self.embed(batch["text"].tolist())
        return pd.DataFrame({"position": batch["position"].to_numpy(), "vector": list(vectors)})


def embed_texts(texts: list[str], model_path: str, backend: str, address: str, batch_size: int = 512) -> np.ndarray:
    """Vectors of `texts` (in order) computed by Ray Data workers, each with its own model, reading the texts'
    Parquet shards."""
    ray = connect(address)
    workers = max(1, min(_cpus(ray), -(-len(texts) // batch_size)))
    with text_shards(texts, rows=max(batch_size, -(-len(texts) // (workers * 2)))) as folder:
        embedded = (
            ray.data.read_parquet(str(folder))
            .map_batches(
                _Embed,
                fn_constructor_args=(model_path, backend),
                batch_size=batch_size,
                batch_format="pandas",
                concurrency=workers,
            )
            .to_pandas()
        )
    if len(embedded) != len(texts):
        raise RuntimeError(f"Ray returned {len(embedded):,} of {len(texts):,} vectors")
    embedded = embedded.sort_values("position")
    return np.stack(embedded["vector"].to_numpy()).astype(np.float32)
