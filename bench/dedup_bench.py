"""Dedup benchmark on every instruction text in ../shared/data (one printed line per figure).

ROUGE-L all pairs (exact rouge-score semantics) at t=0.7 and t=0.5 on the first 52K texts and on all of them,
brute-force rouge-score on a sample (same run) with the extrapolated speed-up, and embedding dedup cold (embed
everything) and warm (cache), next to bare SentenceTransformer.encode on the same texts; with --encoders-only,
each exported encoder (OpenVINO bf16, ONNX Runtime fp32 / int8) against bare encode, interleaved, median of repeats.

    python bench/dedup_bench.py [--skip-embeddings] [--embed-limit N] [--brute-sample 2000]
    python bench/dedup_bench.py --encoders-only --embed-limit 3000 --repeats 3
    python bench/dedup_bench.py --cli-embed 10000

--cli-embed N: the user's run, cold, end to end: `python -m curation dedup embed --pairs-out P` on a fresh
database of N texts (process start, model load, encode, vector cache, search, record, pairs file), timed as a
child process, against a bare SentenceTransformer.encode of the same texts (model loaded outside the timing) in
the same bench run; then the CLI run's own stage times from a second, profiled cold run.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from curation.dedup import embeddings, encoder, runs
from curation.dedup.rouge_join import find_rouge_pairs
from curation.dedup.scopes import scope_texts
from curation.store import Store, examples

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def instruction_texts() -> list[str]:
    """Seeds, Alpaca (no-input, then the 5,000 subset), then FLAN CoT questions, in file order."""
    texts = [json.loads(line)["instruction"] for line in (DATA / "self_instruct_seed_tasks.jsonl").open()]
    for name in ("alpaca_noinput_instructions_31323.json", "alpaca_subset_5000.json"):
        texts += [row["instruction"] for row in json.loads((DATA / name).read_text())]
    for path in sorted((DATA / "flan_cot").glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            texts += [row[0] for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if row]
    return texts


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _brute_rows(args: tuple[list[str], int, int, float]) -> list[tuple[int, int, float]]:
    from rouge_score import rouge_scorer

    texts, start, stop, threshold = args
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    out = []
    for i in range(start, stop):
        for j in range(i + 1, len(texts)):
            score = scorer.score(texts[i], texts[j])["rougeL"].fmeasure
            if score >= threshold:
                out.append((i, j, score))
    return out


def brute_force(texts: list[str], threshold: float, workers: int = 2) -> list[tuple[int, int, float]]:
    """Every pair scored by rouge-score itself, rows split over `workers` processes (same pair counts each)."""
    n = len(texts)
    bounds = [0] + [int(n - n * np.sqrt(1 - k / (workers * 4))) for k in range(1, workers * 4)] + [n]
    with Pool(workers) as pool:
        parts = pool.map(_brute_rows, [(texts, a, b, threshold) for a, b in itertools.pairwise(bounds)])
    return sorted(p for part in parts for p in part)


def rouge_figures(texts: list[str], brute_sample: int) -> None:
    first = texts[:52000]
    timings = {}
    for label, subset in (("first 52K", first), ("all", texts)):
        for threshold in (0.7, 0.5):
            pairs, seconds = timed(find_rouge_pairs, subset, threshold, "ge")
            timings[(label, threshold)] = seconds
            print(
                f"rouge-L all pairs, {label} ({len(subset):,} texts), t={threshold} ge: {seconds:.2f} s, "
                f"{len(pairs):,} pairs",
                flush=True,
            )
    sample = texts[:: max(1, len(texts) // brute_sample)][:brute_sample]
    expected, brute_s = timed(brute_force, sample, 0.5)
    fast, fast_s = timed(find_rouge_pairs, sample, 0.5, "ge")
    same = [(int(a), int(b), float(s)) for a, b, s in fast.itertuples(index=False, name=None)] == expected
    n_pairs = len(sample) * (len(sample) - 1) // 2
    per_pair = brute_s / n_pairs
    print(
        f"brute-force rouge-score, {len(sample):,}-text sample ({n_pairs:,} pairs, 2 processes): {brute_s:.1f} s "
        f"({n_pairs / brute_s:,.0f} pairs/s); fast join on the sample {fast_s:.3f} s; identical pairs and "
        f"scores: {same}",
        flush=True,
    )
    for label, n in (("first 52K", len(first)), ("all", len(texts))):
        full = per_pair * n * (n - 1) / 2
        for threshold in (0.7, 0.5):
            print(
                f"extrapolated brute force, {label}: {full / 3600:.1f} h; speed-up at t={threshold}: "
                f"{full / timings[(label, threshold)]:,.0f}x",
                flush=True,
            )


def embedding_figures(texts: list[str]) -> None:
    path = embeddings.model_dir()
    model = embeddings.load_model(str(path))
    model.encode(texts[:64], batch_size=64)  # warm up the kernels outside the timings
    _, bare_s = timed(model.encode, texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    print(
        f"bare SentenceTransformer.encode, {len(texts):,} texts: {bare_s:.1f} s ({len(texts) / bare_s:,.0f} texts/s)",
        flush=True,
    )
    encoder_figures(texts, model, 1)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        examples.add_examples(store, pd.DataFrame({"instruction": texts}), examples.SourceInfo("bench", "bench"))
        cfg = runs.DedupConfig(method="embedding", threshold=0.9, statuses=("pending",))
        cold, cold_s = timed(runs.run_dedup, store, cfg, author="bench")
        print(
            f"embedding dedup cold (embed + cache + search + record), {len(texts):,} texts: {cold_s:.1f} s "
            f"= {cold_s / bare_s:.2f}x bare encode; {cold.embedded:,} embedded, {len(cold.pairs):,} pairs "
            f">= 0.9",
            flush=True,
        )
        warm, warm_s = timed(runs.run_dedup, store, cfg, author="bench")
        print(
            f"embedding dedup warm (cache), {len(texts):,} texts: {warm_s:.2f} s; {warm.embedded} embedded, "
            f"{len(warm.pairs):,} pairs",
            flush=True,
        )
        rows, rows_s = timed(runs.load_rows, store, cfg.example_filter())
        (vectors, _), cache_s = timed(runs.embed_texts, store, scope_texts(rows, cfg.scope), cfg.scope)
        _, search_s = timed(embeddings.cosine_pairs, vectors, 0.9)
        print(
            f"warm breakdown: load rows {rows_s:.2f} s, cached vectors {cache_s:.2f} s, "
            f"exact cosine search {search_s:.2f} s",
            flush=True,
        )
        store.close()


def _bare_encode_seconds(texts: list[str]) -> float:
    model = embeddings.load_model(str(embeddings.model_dir()))
    model.encode(texts[:64], batch_size=64)  # warm up outside the timing
    return timed(model.encode, texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)[1]


def cli_embedding_figures(texts: list[str]) -> None:
    """The CLI embedding run, cold, against bare encode of the same texts (each in its own process)."""
    import subprocess
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        bare_s = pool.submit(_bare_encode_seconds, texts).result()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "embed.duckdb"
        store = Store(db)
        examples.add_examples(store, pd.DataFrame({"instruction": texts}), examples.SourceInfo("bench", "bench"))
        store.close()
        command = [sys.executable, "-m", "curation", "--db", str(db), "dedup", "embed", "--threshold", "0.9"]
        command += ["--pairs-out", str(Path(tmp) / "pairs.jsonl")]
        env = {**os.environ, "INSTRUCT_CURATOR_SEED_SAMPLE": "0", "CURATION_NO_PROGRESS": "1"}
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1])
        cli_s = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"the CLI run failed: {done.stderr[-2000:]}")
    print(
        f"embedding dedup through the CLI, cold (process start + model load + encode + cache + search + record + "
        f"pairs file), {len(texts):,} texts: {cli_s:.1f} s; bare SentenceTransformer.encode (model loaded "
        f"beforehand) {bare_s:.1f} s: CLI = {bare_s / cli_s:.2f}x bare encode ({done.stdout.splitlines()[0]}; "
        f"load {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def encoder_figures(texts: list[str], model, repeats: int = 3) -> None:
    """Each exported backend vs bare encode (fp32, batch 64) on the same texts in this run: bare encode right
    before each backend in every repeat (the machine's load drifts), the median of the per-repeat ratios; cosine
    to the fp32 vectors; whether the pairs >= 0.9 are the same except within 0.002 of the threshold."""
    path = embeddings.model_dir()
    bare = partial(model.encode, texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    backends = [b for b in ("openvino-bf16", "onnx", "onnx-int8") if _runs_here(path, b)]
    embedders = {}
    for backend in backends:
        _, build_s = timed(encoder.build_onnx, path, backend)
        embedders[backend] = embeddings.local_embedder(path, backend, batch_size=64)
        embedders[backend](texts[:64])  # warm up outside the timings
        print(f"{backend}: export + build {build_s:.0f} s (once, cached)", flush=True)
    ratios: dict[str, list[float]] = {b: [] for b in backends}
    vectors: dict[str, np.ndarray] = {}
    reference = None
    for repeat in range(repeats):
        for backend in backends:
            reference, bare_s = timed(bare)
            vectors[backend], fast_s = timed(embedders[backend], texts)
            ratios[backend].append(bare_s / fast_s)
            print(f"  repeat {repeat + 1} {backend}: bare {bare_s:.1f} s, {backend} {fast_s:.1f} s", flush=True)
    want = embeddings.cosine_pairs(reference, 0.9, search="exact")
    for backend in backends:
        cosine = np.einsum("ij,ij->i", vectors[backend], reference)
        got = embeddings.cosine_pairs(vectors[backend], 0.9, search="exact")
        differ = set(zip(want["a"], want["b"], strict=True)) ^ set(zip(got["a"], got["b"], strict=True))
        outside = sum(abs(float(reference[a] @ reference[b]) - 0.9) > 0.002 for a, b in differ)
        print(
            f"{backend} encoder, {len(texts):,} texts: median {statistics.median(ratios[backend]):.2f}x bare encode "
            f"over {repeats} interleaved repeats (each: {', '.join(f'{r:.2f}' for r in ratios[backend])}); "
            f"cosine to fp32 min {cosine.min():.6f}, 1st percentile {np.percentile(cosine, 1):.6f}; pairs >= 0.9: "
            f"{len(got):,} vs {len(want):,}, {len(differ)} differ, {outside} of them farther than 0.002 from 0.9",
            flush=True,
        )


def _runs_here(path: Path, backend: str) -> bool:
    try:
        return encoder.backend_for(path, backend) == backend
    except (RuntimeError, ValueError) as exc:
        print(f"{backend}: not measured ({exc})", flush=True)
        return False


def sample(texts: list[str], n: int) -> list[str]:
    """n texts spread evenly over the corpus (every source, not only the first file)."""
    return texts if not n or n >= len(texts) else texts[:: len(texts) // n][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-embeddings", action="store_true")
    parser.add_argument("--skip-rouge", action="store_true")
    parser.add_argument("--embed-limit", type=int, default=0, help="embed only the first N texts (0 = all)")
    parser.add_argument("--brute-sample", type=int, default=2000)
    parser.add_argument("--encoders-only", action="store_true", help="only the exported encoders vs bare encode")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each encoder timing")
    parser.add_argument("--cli-embed", type=int, default=0, help="the CLI embedding run, cold, on N texts")
    args = parser.parse_args()
    texts = instruction_texts()
    print(
        f"corpus: {len(texts):,} instruction texts from {DATA}; {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    if args.cli_embed:
        cli_embedding_figures(sample(texts, args.cli_embed))
        return
    if args.encoders_only:
        model = embeddings.load_model(str(embeddings.model_dir()))
        encoder_figures(sample(texts, args.embed_limit), model, args.repeats)
        return
    if not args.skip_rouge:
        rouge_figures(texts, args.brute_sample)
    if not args.skip_embeddings:
        embedding_figures(texts[: args.embed_limit] if args.embed_limit else texts)


if __name__ == "__main__":
    main()
