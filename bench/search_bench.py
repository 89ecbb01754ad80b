"""Cosine search benchmark on REAL-text vectors: exact search vs faiss index + exact re-scoring (time, peak RSS,
pairs, recall of the exact pairs) per size, and where exact search stops being fast (one printed line per figure).

Texts: every distinct real text in ../shared/data (instructions, inputs, outputs, FLAN CoT questions, answers and
rationales, BIG-Bench Hard questions and rationales, self-instruct instances) plus each of their sentences of 3+
words, exact duplicates removed, in a fixed shuffled order (seed 0): ~320K texts, of which the first N are used.
Nothing is generated or planted: the pairs are whatever the real texts contain.

Vectors are encoded once with the fast encoder (`--backend`, default auto) in resumable parts of 4,096 texts under
`--cache` (outside the repository; default ~/.cache/instruct-curator-bench); `--encode-minutes` bounds one session's
encoding, and the sizes beyond what is encoded are skipped with a note. Each search runs in a fresh process, so its
peak RSS is its own.

    python bench/search_bench.py [--sizes 25000,50000,100000,200000] [--threshold 0.9] [--encode-minutes 60]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import multiprocessing as mp
import os
import re
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

PART = 4096
SENTENCE = re.compile(r"(?<=[.!?])\s+|\\n|\n")


def real_texts() -> list[str]:
    """Every distinct real text and sentence of ../shared/data, shuffled with seed 0 (see the module docstring)."""
    from dedup_bench import DATA, instruction_texts

    whole = list(instruction_texts())
    for row in json.loads((DATA / "alpaca_subset_5000.json").read_text()):
        whole += [row["input"], row["output"]]
    for path in sorted((DATA / "flan_cot").glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            whole += [field for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) for field in row[1:]]
    for line in (DATA / "bbh_cot" / "bbh_cot_davinci002.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        whole += [row["question"], row["rationale_with_answer"]]
    for line in (DATA / "self_instruct_seed_tasks.jsonl").open(encoding="utf-8"):
        instances = json.loads(line)["instances"]
        whole += [instance[field] for instance in instances for field in ("input", "output")]
    texts = [t.strip() for t in whole if t.strip()]
    texts += [s.strip() for t in texts for s in SENTENCE.split(t) if len(s.split()) >= 3]
    unique = sorted(set(texts))
    return [unique[i] for i in np.random.default_rng(0).permutation(len(unique))]


def encoded(texts: list[str], limit: int, cache: Path, backend: str, minutes: float, name: str = "real") -> np.ndarray:
    """Vectors of as many of the first `limit` texts as are encoded (resuming earlier parts, which are keyed by
    `name` and the whole corpus; at most `minutes` of new work)."""
    from curation.dedup import embeddings

    path = embeddings.model_dir()
    runtime = embeddings.runtime_for(None, backend)
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
    folder = cache / f"{name}-{key}-{runtime}"
    folder.mkdir(parents=True, exist_ok=True)
    embed = None
    deadline = time.monotonic() + 60 * minutes
    parts = []
    for number, start in enumerate(range(0, min(limit, len(texts)), PART)):
        part = folder / f"part-{number:05d}.npy"
        if not part.exists():
            if time.monotonic() > deadline:
                break
            embed = embed or embeddings.local_embedder(path, runtime)
            began = time.perf_counter()
            vectors = embed(texts[start : start + PART])
            np.save(part.with_suffix(".tmp.npy"), vectors)
            os.replace(part.with_suffix(".tmp.npy"), part)
            rate = len(vectors) / (time.perf_counter() - began)
            print(f"  encoded texts {start:,}-{start + len(vectors):,} with {runtime}: {rate:,.0f} texts/s", flush=True)
        parts.append(np.load(part))
    return np.concatenate(parts) if parts else np.zeros((0, 384), np.float32)


def fidelity(texts: list[str], vectors: np.ndarray, threshold: float) -> None:
    """The cached vectors of the first texts vs ONNX Runtime fp32 (cosine 1.0 to bare encode): cosine, and the
    pairs >= threshold that differ, with how many lie farther than 0.002 from the threshold."""
    from curation.dedup import embeddings

    reference = embeddings.local_embedder(embeddings.model_dir(), "onnx")(texts)
    cosine = np.einsum("ij,ij->i", vectors, reference)
    want = embeddings.cosine_pairs(reference, threshold, search="exact")
    got = embeddings.cosine_pairs(vectors, threshold, search="exact")
    differ = set(zip(want["a"], want["b"], strict=True)) ^ set(zip(got["a"], got["b"], strict=True))
    outside = sum(abs(float(reference[a] @ reference[b]) - threshold) > 0.002 for a, b in differ)
    print(
        f"fidelity on the first {len(texts):,} real texts vs ONNX Runtime fp32: cosine min {cosine.min():.6f}; pairs "
        f">= {threshold}: {len(got):,} vs {len(want):,}, {len(differ)} differ, {outside} farther than 0.002",
        flush=True,
    )


def _search(args: tuple[Path, int, float, str]) -> tuple[float, int, set[tuple[int, int]]]:
    from curation.dedup import embeddings

    path, n, threshold, search = args
    vectors = np.load(path, mmap_mode="r")[:n].copy()
    import faiss  # noqa: F401  (loaded before the clock starts, as in the app, where embedding has loaded them)
    import torch  # noqa: F401

    start = time.perf_counter()
    pairs = embeddings.cosine_pairs(vectors, threshold, search=search)
    seconds = time.perf_counter() - start
    return seconds, _peak_mb(), set(zip(pairs["a"].tolist(), pairs["b"].tolist(), strict=True))


def _peak_mb() -> int:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def in_fresh_process(fn, args):
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, (args,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,50000,100000,200000")
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--backend", default="auto", help="encoder for the vectors (see curation.dedup.encoder)")
    parser.add_argument("--encode-minutes", type=float, default=60.0, help="most minutes of new encoding per run")
    parser.add_argument("--fidelity-texts", type=int, default=0, help="compare the first N vectors with fp32")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "instruct-curator-bench")
    args = parser.parse_args()
    texts = real_texts()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {len(texts):,} real texts")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    vectors = encoded(texts, max(sizes), args.cache, args.backend, args.encode_minutes)
    stacked = args.cache / "search-bench-vectors.npy"
    np.save(stacked, vectors)
    print(f"real-text vectors available: {len(vectors):,}", flush=True)
    if args.fidelity_texts:
        k = min(args.fidelity_texts, len(vectors))
        fidelity(texts[:k], vectors[:k], args.threshold)
    for n in sizes:
        if n > len(vectors):
            print(f"{n:,} vectors: skipped, only {len(vectors):,} encoded so far (run again to encode more)")
            continue
        exact_s, exact_mb, exact = in_fresh_process(_search, (stacked, n, args.threshold, "exact"))
        index_s, index_mb, found = in_fresh_process(_search, (stacked, n, args.threshold, "index"))
        recall = len(found & exact) / max(len(exact), 1)
        print(
            f"cosine >= {args.threshold} on {n:,} real-text vectors: exact {exact_s:.1f} s ({exact_mb:,} MB peak, "
            f"{len(exact):,} pairs); index {index_s:.1f} s ({index_mb:,} MB peak, {len(found):,} pairs, recall "
            f"{recall:.4f} of exact, {len(found - exact)} not in exact); exact / index time {exact_s / index_s:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
