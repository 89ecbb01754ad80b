"""Self-Instruct ROUGE-L filter benchmark: accept/reject 1,000 candidates against a 30K-instruction pool.

    python bench/selfinstruct_bench.py [--pool 30000] [--candidates 1000] [--alpaca-candidates 40] [--alpaca-pool 3000]

The pool is the first 30,000 Alpaca no-input instructions; candidates are held-out ones plus a random draw from
the 5,000-row Alpaca subset (which repeats some pool instructions, so some are rejected). Each candidate is
dropped when ROUGE-L > 0.7 against the pool plus the candidates accepted before it, as in the job.

Alpaca's own generate_instruction.py scores each candidate against the whole pool with rouge-score
(`rouge_scorer._score_lcs` over pre-tokenised instructions). That is far too slow to run at full size here, so it
is measured in the same run on a smaller pool (pairs per second, one core) and extrapolated to the exact number of
pairs the full run scores. Prints one line per figure; reads ../shared/data beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rouge_score import rouge_scorer  # noqa: E402

from curation.dedup.rouge import RougeIndex  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
THRESHOLD = 0.7


def load(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    alpaca = [r["instruction"] for r in json.loads((DATA / "alpaca_noinput_instructions_31323.json").read_text())]
    subset = [r["instruction"] for r in json.loads((DATA / "alpaca_subset_5000.json").read_text())]
    pool, held_out = alpaca[: args.pool], alpaca[args.pool :]
    n_subset = args.candidates - min(len(held_out), int(args.candidates * 0.7))
    candidates = held_out[: args.candidates - n_subset] + random.Random(0).sample(subset, n_subset)
    return pool, candidates


def job_path(pool: list[str], candidates: list[str]) -> tuple[float, list[bool], list[int], float]:
    """What the generation job does per candidate: top-10 similar (gives the max), accept -> add to the index."""
    start = time.perf_counter()
    index = RougeIndex(pool)
    built = time.perf_counter() - start
    accepted, sizes = [], []
    start = time.perf_counter()
    for text in candidates:
        sizes.append(len(index))
        similar = index.most_similar(text, k=10)
        ok = not similar or similar[0][1] <= THRESHOLD
        accepted.append(ok)
        if ok:
            index.add(text)
    return time.perf_counter() - start, accepted, sizes, built


def filter_only(pool: list[str], candidates: list[str]) -> tuple[float, list[bool]]:
    """The accept/reject decision alone (length-bound pruning before exact LCS)."""
    index = RougeIndex(pool)
    start = time.perf_counter()
    accepted = []
    for text in candidates:
        ok = index.passes(text, THRESHOLD, "gt")
        accepted.append(ok)
        if ok:
            index.add(text)
    return time.perf_counter() - start, accepted


def alpaca_rate(pool: list[str], candidates: list[str]) -> tuple[float, int, int]:
    """rouge-score pairs/second as Alpaca runs it (pre-tokenised _score_lcs; one core), and agreement with ours."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    tokens = [scorer._tokenizer.tokenize(t) for t in pool]
    index = RougeIndex(pool)
    agree = 0
    start = time.perf_counter()
    for text in candidates:
        new = scorer._tokenizer.tokenize(text)
        best = max(rouge_scorer._score_lcs(new, t).fmeasure for t in tokens)
        agree += best == index.max_score(text)
    elapsed = time.perf_counter() - start
    return len(candidates) * len(pool) / elapsed, agree, len(candidates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=30_000)
    parser.add_argument("--candidates", type=int, default=1_000)
    parser.add_argument("--alpaca-candidates", type=int, default=40)
    parser.add_argument("--alpaca-pool", type=int, default=3_000)
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"missing {DATA}; the benchmark reads the shared Alpaca files")
    pool, candidates = load(args)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores shared with other work)")
    elapsed, accepted, sizes, built = job_path(pool, candidates)
    print(
        f"pool {len(pool):,} instructions, {len(candidates):,} candidates: accepted {sum(accepted)}, "
        f"rejected {len(accepted) - sum(accepted)} (ROUGE-L > {THRESHOLD})"
    )
    print(f"index build over the pool: {built:.2f} s")
    print(
        f"job path (top-10 similar + max, add on accept): {elapsed:.2f} s for {len(candidates):,} candidates "
        f"= {1000 * elapsed / len(candidates):.1f} ms per candidate"
    )
    f_elapsed, f_accepted = filter_only(pool, candidates)
    assert f_accepted == accepted, "filter-only and job path disagree"
    print(f"filter only (RougeIndex.passes, bound pruning): {f_elapsed:.2f} s for {len(candidates):,} candidates")
    rate, agree, measured = alpaca_rate(pool[: args.alpaca_pool], candidates[: args.alpaca_candidates])
    pairs = sum(sizes)
    alpaca_total = pairs / rate
    print(
        f"rouge-score _score_lcs (Alpaca's way), measured on {measured} x {args.alpaca_pool:,} pairs: "
        f"{rate:,.0f} pairs/s on one core; max scores equal to ours for {agree}/{measured} candidates"
    )
    print(
        f"Alpaca's way extrapolated to this run ({pairs:,} pairs): {alpaca_total:,.0f} s "
        f"(= {alpaca_total / 3600:.2f} h on one core)"
    )
    print(
        f"speed-up of the job path over Alpaca's way: {alpaca_total / elapsed:,.0f}x "
        f"(filter only: {alpaca_total / f_elapsed:,.0f}x)"
    )


if __name__ == "__main__":
    main()
