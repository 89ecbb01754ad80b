"""Curation operations on real rows: throughput of `score` and what `decide` would change with default parameters.

    python bench/operations_bench.py [--rows 5000]

Rows: ../shared/data/alpaca_subset_5000.json (instruction / input / output). One line per operation (and per mode
where it has two): rows/s of `score` on one process (model loading timed apart), then the labels or decisions.
Extra lines: quality on the 175 Self-Instruct seed tasks, trace on BIG-Bench Hard's 1,620 code-davinci-002 traces,
n-gram contamination of Alpaca against BBH questions and the Self-Instruct seed and user-oriented sets, and (a
positive control) against the 31,323 no-input Alpaca instructions.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.operations import base  # noqa: E402
from curation.operations.language import detector  # noqa: E402
from curation.operations.ngram_contamination import ngrams  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def alpaca(limit: int) -> list[base.RowText]:
    rows = json.loads((DATA / "alpaca_subset_5000.json").read_text(encoding="utf-8"))[:limit]
    return [base.RowText(i, 1, r["instruction"], r.get("input", ""), r["output"]) for i, r in enumerate(rows)]


def seeds() -> list[base.RowText]:
    lines = (DATA / "self_instruct_seed_tasks.jsonl").read_text(encoding="utf-8").split("\n")
    tasks = [json.loads(line) for line in lines if line.strip()]
    return [
        base.RowText(i, 1, t["instruction"], t["instances"][0].get("input", ""), t["instances"][0].get("output", ""))
        for i, t in enumerate(tasks)
    ]


def bbh() -> list[base.RowText]:
    lines = (DATA / "bbh_cot" / "bbh_cot_davinci002.jsonl").read_text(encoding="utf-8").split("\n")
    items = [json.loads(line) for line in lines if line.strip()]
    return [base.RowText(i, 1, r["question"], output=r["rationale_with_answer"]) for i, r in enumerate(items)]


def run(name: str, rows: list[base.RowText], given: dict, label: str) -> list[base.Signal]:
    """Score and decide; print one line: rows/s, top labels, decisions."""
    op = base.get(name)
    params = op.params(given)
    start = time.perf_counter()
    signals = op.score(rows, params)
    seconds = time.perf_counter() - start
    decisions = op.decide(signals, params)
    labels = collections.Counter(s.label for s in signals).most_common(4)
    share = len(decisions) / len(rows)
    print(
        f"{label}: {len(rows)} rows, {len(rows) / seconds:,.0f} rows/s; labels {labels}; "
        f"decide: {len(decisions)} rows ({share:.2%})"
    )
    return signals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    rows = alpaca(parser.parse_args().rows)
    for accuracy in ("high", "low"):
        start = time.perf_counter()
        detector(accuracy).compute_language_confidence_values("warm up: load the models")
        loaded = time.perf_counter() - start
        signals = run("language", rows, {"accuracy": accuracy}, f"language ({accuracy} accuracy, load {loaded:.1f} s)")
        print(f"  language ({accuracy}): share labelled en {sum(s.label == 'en' for s in signals) / len(rows):.2%}")
    run("quality", rows, {}, "quality (alpaca)")
    run("quality", seeds(), {}, "quality (self-instruct seeds)")
    run("trace", rows, {}, "trace (alpaca)")
    run("trace", bbh(), {}, "trace (BBH code-davinci-002 traces)")
    evals = [
        str(DATA / "bbh_cot" / "bbh_cot_davinci002.jsonl"),
        str(DATA / "self_instruct_seed_tasks.jsonl"),
        str(DATA / "self_instruct_user_oriented_252.jsonl"),
    ]
    start = time.perf_counter()
    run("ngram_contamination", rows[:1], {"eval_files": evals}, "ngram_contamination (index build, 1 row)")
    print(f"  index build and first row: {time.perf_counter() - start:.2f} s")
    run("ngram_contamination", rows, {"eval_files": evals}, "ngram_contamination (alpaca vs BBH, seeds, user-oriented)")
    # A positive control: the 3,057 no-input rows of the subset are among these 31,323 instructions; those with
    # 13+ words must be found.
    known = str(DATA / "alpaca_noinput_instructions_31323.json")
    start = time.perf_counter()
    signals = run("ngram_contamination", rows, {"eval_files": [known]}, "ngram_contamination (alpaca vs 31,323 instr.)")
    long_no_input = sum(not r.input and bool(ngrams(r.instruction, 13)) for r in rows)
    hits_no_input = sum(s.label == "contaminated" and not r.input for s, r in zip(signals, rows, strict=True))
    took = time.perf_counter() - start
    print(f"  with index build {took:.1f} s; no-input rows with a 13-gram {long_no_input}, found {hits_no_input}")
    run("pii", rows, {}, "pii (alpaca)")


if __name__ == "__main__":
    main()
