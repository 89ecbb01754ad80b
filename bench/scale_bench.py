"""Scale benchmark: both dedups on 100K / 300K / 1M instruction texts built from the real texts in ../shared/data.

Corpus generator (`corpus(n, variant, seed)`, deterministic for a seed):
- base pool: every instruction text of bench/dedup_bench.py (self-instruct seeds, both Alpaca files, FLAN CoT
  questions; ~70K real texts) and its vocabulary of real words;
- each new text is a real base text with 30% of its words replaced by random words of that vocabulary (so texts
  are distinct, real-looking and mostly far apart), except that with probability DUP_RATE (8%) it is instead a
  near-copy of an earlier generated text with 1-2 words replaced (a realistic near-duplicate rate);
- variant 'code': every text also carries numbers, hex identifiers and snake_case names (2-4 random tokens), so
  the corpus has > 1.2M distinct ROUGE tokens at 1M rows (numbers, code and identifiers of real corpora).

Prints one line per figure: rows, variant, ROUGE-L all pairs at 0.7 (wall time, CPU seconds of all threads and
the load average after the run, which tell how far a shared machine slowed it; peak RSS of a fresh process (the
corpus included); pairs; distinct tokens), and cosine search at 0.9 (index candidates + exact re-scoring vs
exact search: time, peak RSS, pairs, recall of the exact pairs) on the first n vectors of the 1M plain corpus,
encoded once with the fast encoder in resumable parts under `--cache` (outside the repository; ~470 texts/s with
OpenVINO bf16 on 2 cores, so ~35 minutes for 1M; `--encode-minutes` bounds one run's share).

    python bench/scale_bench.py [--sizes 100000,300000,1000000] [--variants plain,code] [--skip-embeddings]

End to end (what a user runs), beside the kernel on the same texts:

    python bench/scale_bench.py --end-to-end 1000000

builds (once, cached under `--cache`) a database of n instruction rows of the plain corpus, copies it, and times
`python -m curation dedup rouge --threshold 0.7 --scope instruction --mode pairs --pairs-out P` in a child process
(wall time; peak RSS of that whole process from getrusage(RUSAGE_CHILDREN)), then `find_rouge_pairs` alone in a
fresh process; both print the load average, since a shared machine slows both.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

DUP_RATE = 0.08
SUBSTITUTE = 0.30
SEARCH_CORPUS = 1_000_000  # the cosine figures use the first n vectors of this corpus


def corpus(n: int, variant: str = "plain", seed: int = 0) -> list[str]:
    """n instruction texts (see the module docstring); the same n, variant and seed give the same texts."""
    from dedup_bench import instruction_texts

    base = list(dict.fromkeys(instruction_texts()))
    vocab = sorted({w for t in base for w in t.split() if w.isalpha()})
    rng = np.random.default_rng(seed)
    is_dup = rng.random(n) < DUP_RATE
    picks = rng.integers(0, len(base), n)
    words_of = [t.split() or ["empty"] for t in base]
    pool = rng.integers(0, len(vocab), 64 * n + 64)  # random vocabulary words, consumed in order
    used = 0
    out: list[str] = []
    for i in range(n):
        if i and is_dup[i]:
            words = out[int(pool[used]) % i].split()
            for k in range(1 + int(pool[used + 1]) % 2):
                words[int(pool[used + 2 + k]) % len(words)] = vocab[int(pool[used + 4 + k])]
            used += 6
        else:
            words = list(words_of[picks[i]])
            swap = np.flatnonzero(rng.random(len(words)) < SUBSTITUTE)
            fresh = (
                pool[used : used + len(swap)]
                if used + len(swap) <= len(pool)
                else rng.integers(0, len(vocab), len(swap))
            )
            used += len(swap)
            for k, w in zip(swap, fresh, strict=True):
                words[k] = vocab[int(w)]
            if variant == "code":
                words += _code_tokens(rng)
        out.append(" ".join(words))
    return out


def _code_tokens(rng: np.random.Generator) -> list[str]:
    count = int(rng.integers(2, 5))
    kinds, values = rng.integers(0, 4, count), rng.integers(0, 10**7, count)
    forms = [str, lambda v: f"0x{v * 7:06x}", lambda v: f"var_{v % 10**6}", lambda v: f"{v / 1000:.3f}"]
    return [forms[int(k)](int(v)) for k, v in zip(kinds, values, strict=True)]


def _rouge(args: tuple[int, str]) -> tuple[float, float, int, int, int]:
    from curation.dedup.rouge_join import find_rouge_pairs
    from curation.dedup.rouge_tokens import rouge_token_ids

    n, variant = args
    texts = corpus(n, variant)
    start, cpu_start = time.perf_counter(), time.process_time()
    pairs = find_rouge_pairs(texts, 0.7)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    distinct = int(rouge_token_ids(texts)[0].max()) + 1 if texts else 0
    return seconds, cpu, _peak_mb(), len(pairs), distinct


def _search(args: tuple[str, int, str]) -> tuple[float, int, set]:
    from curation.dedup import embeddings

    path, n, search = args
    vectors = np.load(path, mmap_mode="r")[:n].copy()
    import faiss  # noqa: F401  (loaded before the clock starts, as in the app, where embedding has loaded them)
    import torch  # noqa: F401

    start = time.perf_counter()
    pairs = embeddings.cosine_pairs(vectors, 0.9, search=search)
    return time.perf_counter() - start, _peak_mb(), set(zip(pairs["a"].tolist(), pairs["b"].tolist(), strict=True))


def _peak_mb() -> int:
    from search_bench import _peak_mb as peak_of_this_process

    return peak_of_this_process()


def in_fresh_process(fn, args):
    """Run fn(args) in a new process, so its peak RSS is its own."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, (args,))


def cached_vectors(cache: Path, backend: str, minutes: float) -> np.ndarray:
    """Vectors of corpus(1M, 'plain') (the first n of them for a smaller size), encoded once with the fast encoder
    in resumable parts under `cache` (at most `minutes` of new encoding per run)."""
    from search_bench import encoded

    texts = corpus(SEARCH_CORPUS, "plain")
    return encoded(texts, len(texts), cache, backend, minutes, name="scale-plain")


def cached_database(cache: Path, n: int) -> Path:
    """A database of corpus(n, 'plain') as instructions (outputs: the previous text, so lengths vary), built
    once under `cache`."""
    path = cache / f"rouge-e2e-{n}.duckdb"
    if path.exists():
        return path
    import pandas as pd

    from curation.store import Store, examples

    cache.mkdir(parents=True, exist_ok=True)
    texts = corpus(n, "plain")
    rows = pd.DataFrame({"instruction": texts, "input": "", "output": [texts[i - 1] for i in range(n)]})
    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    store = Store(str(partial))
    examples.add_examples(store, rows, examples.SourceInfo(name=f"scale-{n}", format="bench"))
    store.close()
    partial.rename(path)
    return path


def _child_peak_mb_and_cpu() -> tuple[int, float]:
    """Peak RSS (MB) of the largest child so far and CPU seconds of all children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime  # ru_maxrss: kB on Linux


def end_to_end(cache: Path, n: int, keep_pairs: Path | None = None) -> None:
    """The CLI run on a copy of the cached database, then the kernel alone on the same texts."""
    source = cached_database(cache, n)
    with tempfile.TemporaryDirectory(dir=cache) as folder:
        db = Path(folder) / "run.duckdb"
        shutil.copy(source, db)
        pairs_out = Path(folder) / "pairs.jsonl"
        command = [sys.executable, "-m", "curation", "--db", str(db), "dedup", "rouge", "--threshold", "0.7"]
        command += ["--scope", "instruction", "--mode", "pairs", "--pairs-out", str(pairs_out)]
        env = {**os.environ, "INSTRUCT_CURATOR_SEED_SAMPLE": "0", "PYTHONPATH": str(Path(__file__).parents[1])}
        _, cpu_before = _child_peak_mb_and_cpu()
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1])
        seconds = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"the CLI run failed ({done.returncode}): {done.stderr[-2000:]}")
        peak, cpu_after = _child_peak_mb_and_cpu()
        pairs = sum(1 for line in pairs_out.open() if line.startswith('{"kind": "pair"'))
        if keep_pairs:
            shutil.copy(pairs_out, keep_pairs)
    print(
        f"end to end: CLI dedup rouge >= 0.7 pairs mode, {n:,} rows: {seconds:.1f} s ({cpu_after - cpu_before:.1f} "
        f"CPU s), peak RSS {peak:,} MB (whole process), {pairs:,} pairs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    k_seconds, k_cpu, k_peak, k_pairs, _ = in_fresh_process(_rouge, (n, "plain"))
    print(
        f"kernel: find_rouge_pairs, same {n:,} texts: {k_seconds:.1f} s ({k_cpu:.1f} CPU s), peak RSS {k_peak:,} MB "
        "(corpus included), "
        f"{k_pairs:,} pairs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _settled_rss_mb() -> float:
    """RSS after a garbage collection and malloc_trim, as the server does after sessions close (ui/sessions.py)."""
    import gc

    from ui.sessions import give_back_free_heap

    gc.collect()
    give_back_free_heap()
    return _rss_mb()


def _page_job(db: str) -> tuple[float, float, float, int, int]:
    """The Dedup page's job path in this (fresh) process: JobRunner.submit of runs.dedup_job, as the page starts
    it, in a background thread; RSS settled before and after, peak RSS of the process."""
    from curation.dedup import runs
    from curation.executors import IN_PROCESS
    from curation.jobs import JobRunner
    from curation.store import Store, examples

    store = Store(db)
    examples.count(store)  # the server has opened the database and drawn a page before anyone starts a run
    cfg = runs.DedupConfig(method="rouge", threshold=0.7, scope="instruction", mode="pairs")
    before = _settled_rss_mb()
    runner = JobRunner(store)
    start = time.perf_counter()
    job_id = runner.submit("dedup-rouge", runs.dedup_job(cfg, "bench", executor=IN_PROCESS), cfg.params())
    job = runner.wait(job_id)
    seconds = time.perf_counter() - start
    if job["status"] != "succeeded":
        raise SystemExit(f"the page's job failed: {job}")
    after = _settled_rss_mb()
    return seconds, before, after, _peak_mb(), int(job["result"]["pairs"])


def page_job(cache: Path, n: int) -> None:
    """The page's job on a copy of the cached database, in a fresh process."""
    source = cached_database(cache, n)
    with tempfile.TemporaryDirectory(dir=cache) as folder:
        db = Path(folder) / "run.duckdb"
        shutil.copy(source, db)
        seconds, before, after, peak, pairs = in_fresh_process(_page_job, str(db))
    print(
        f"page job (JobRunner.submit, as the Dedup page): dedup rouge >= 0.7 pairs, {n:,} rows: {seconds:.1f} s, "
        f"peak RSS {peak:,} MB; settled RSS {before:,.0f} MB before, {after:,.0f} MB after "
        f"({after / before - 1:+.0%}), {pairs:,} pairs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--variants", default="plain,code")
    parser.add_argument("--search-sizes", default="200000,1000000", help="sizes for the cosine search figures")
    parser.add_argument("--exact-max", type=int, default=1_000_000, help="largest size also searched exactly")
    parser.add_argument("--skip-embeddings", action="store_true")
    parser.add_argument("--backend", default="auto", help="encoder for the vectors (see curation.dedup.encoder)")
    parser.add_argument("--encode-minutes", type=float, default=60.0, help="most minutes of new encoding per run")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "instruct-curator-bench")
    parser.add_argument("--end-to-end", type=int, default=0, help="time the CLI run on a database of this many rows")
    parser.add_argument("--keep-pairs", type=Path, help="copy the end-to-end run's pairs file here")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    if args.end_to_end:
        end_to_end(args.cache, args.end_to_end, args.keep_pairs)
        page_job(args.cache, args.end_to_end)
        return
    for n in [int(s) for s in args.sizes.split(",") if s]:
        for variant in args.variants.split(","):
            seconds, cpu, peak, pairs, distinct = in_fresh_process(_rouge, (n, variant))
            print(
                f"rouge-L >= 0.7 all pairs, {n:,} rows ({variant}, {distinct:,} distinct tokens): "
                f"{seconds:.1f} s ({cpu:.1f} CPU s, load {os.getloadavg()[0]:.1f}), peak RSS {peak:,} MB, "
                f"{pairs:,} pairs",
                flush=True,
            )
    if args.skip_embeddings:
        return
    vectors = cached_vectors(args.cache, args.backend, args.encode_minutes)
    stacked = args.cache / "scale-bench-vectors.npy"
    np.save(stacked, vectors)
    for n in [int(s) for s in args.search_sizes.split(",") if s]:
        if n > len(vectors):
            print(f"cosine search, {n:,} vectors: skipped, only {len(vectors):,} encoded so far (run again)")
            continue
        index_s, index_mb, found = in_fresh_process(_search, (str(stacked), n, "index"))
        line = f"cosine >= 0.9 index search, {n:,} vectors: {index_s:.1f} s, peak RSS {index_mb:,} MB"
        line += f", {len(found):,} pairs"
        if n <= args.exact_max:
            exact_s, exact_mb, exact = in_fresh_process(_search, (str(stacked), n, "exact"))
            recall = len(found & exact) / max(len(exact), 1)
            line += (
                f"; exact {exact_s:.1f} s, peak RSS {exact_mb:,} MB, {len(exact):,} pairs; recall {recall:.4f} of "
                f"exact, {len(found - exact)} not in exact; exact / index time {exact_s / index_s:.2f}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
