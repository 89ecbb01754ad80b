"""CoT detector benchmark: precision / recall / F1 on FLAN CoT vs Alpaca, robustness to other CoT styles,
false positives on Alpaca rows with lists or several sentences, and tagging throughput over ~70K rows.

    python bench/cot_bench.py

Positives: the 33,443 FLAN CoT rows as the importer stores them (output = rationale + " So the answer is X.").
Negatives: the 5,000-row Alpaca subset (with outputs) and the 31,323 no-input Alpaca instructions (no outputs).
Rows are split 50/50 by a hash of the instruction: the threshold is tuned on the first half (best F1 on a grid)
and every figure is reported on the held-out half. Recall is also measured on the held-out FLAN rows rewritten
in five other CoT styles built from the same (question, rationale, answer), so a detector that only knows
"So the answer is" cannot pass. Prints one line per figure; reads ../shared/data beside the repository.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from curation.cot import detector as cot  # noqa: E402
from curation.cot import tagging as cot_tagging  # noqa: E402
from curation.io import importers  # noqa: E402
from curation.store import Store, examples  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GRID = [round(0.05 * i, 2) for i in range(2, 20)]
STYLES = {
    "therefore_the_answer": lambda q, r, a: f"{r} Therefore, the answer is {a}.",
    "final_answer_line": lambda q, r, a: f"{r}\nFinal answer: {a}",
    "gsm8k_hashes": lambda q, r, a: f"{r}\n#### {a}",
    "answer_then_explanation": lambda q, r, a: f"{a}. Explanation: {r}",
    "bare_rationale_then_answer": lambda q, r, a: f"{r}\n{a}",
}


def load() -> pd.DataFrame:
    flan = [importers.parse(p.read_bytes(), p.name, "flan-cot-tsv") for p in sorted((DATA / "flan_cot").glob("*.tsv"))]
    pos = pd.concat(flan, ignore_index=True).assign(label=True, corpus="flan_cot")
    alpaca = importers.parse((DATA / "alpaca_subset_5000.json").read_bytes(), "alpaca_subset_5000.json", "alpaca")
    noinput = importers.parse(
        (DATA / "alpaca_noinput_instructions_31323.json").read_bytes(),
        "alpaca_noinput.json",
        "alpaca",
        allow_missing_output=True,
    )
    neg = pd.concat([alpaca.assign(corpus="alpaca_5000"), noinput.assign(corpus="alpaca_noinput")], ignore_index=True)
    frame = pd.concat([pos, neg.assign(label=False)], ignore_index=True)
    keys = zip(frame["corpus"], frame["instruction"], strict=True)
    digest = [hashlib.sha256(f"{c}\x00{i}".encode()).digest()[0] for c, i in keys]
    frame["split"] = ["tune" if d % 2 == 0 else "heldout" for d in digest]
    return frame


def scores(frame: pd.DataFrame, outputs: list[str] | None = None) -> list[float]:
    outs = frame["output"].tolist() if outputs is None else outputs
    return [cot.detect(i, n, o).score for i, n, o in zip(frame["instruction"], frame["input"], outs, strict=True)]


def prf(labels: pd.Series, predicted: pd.Series) -> tuple[float, float, float, int, int]:
    tp = int((labels & predicted).sum())
    fp = int((~labels & predicted).sum())
    fn = int((labels & ~predicted).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, fp, fn


def is_listy(text: str) -> bool:
    return len(re.findall(r"(?m)^\s*(?:\d+[.)]|[-*•])\s", text)) >= 2


def main() -> None:
    frame = load()
    start = time.perf_counter()
    frame["score"] = scores(frame)
    elapsed = time.perf_counter() - start
    print(f"detect throughput: {len(frame):,} rows in {elapsed:.2f} s = {len(frame) / elapsed:,.0f} rows/s (1 core)")
    tune, held = frame[frame["split"] == "tune"], frame[frame["split"] == "heldout"]
    best = max(GRID, key=lambda t: (prf(tune["label"], tune["score"] >= t)[2], -abs(t - cot.DEFAULT_THRESHOLD)))
    print(f"threshold tuned on {len(tune):,} rows: {best} (default {cot.DEFAULT_THRESHOLD})")
    for name, threshold in (("default", cot.DEFAULT_THRESHOLD), ("tuned", best)):
        p, r, f1, fp, fn = prf(held["label"], held["score"] >= threshold)
        print(
            f"held-out ({len(held):,} rows: {int(held['label'].sum()):,} FLAN CoT + {int((~held['label']).sum()):,} "
            f"Alpaca), threshold {threshold} ({name}): precision {p:.4f} recall {r:.4f} F1 {f1:.4f} (FP {fp}, FN {fn})"
        )
    threshold = best
    alpaca = held[held["corpus"] == "alpaca_5000"]
    listy = alpaca["output"].map(is_listy)
    wordy = alpaca["output"].map(lambda o: len(cot.sentences(o)) >= 3)
    for label, subset in (
        ("all held-out Alpaca rows with outputs", alpaca),
        ("held-out Alpaca rows with a list (>= 2 list lines)", alpaca[listy]),
        ("held-out Alpaca rows with >= 3 sentences", alpaca[wordy]),
        ("held-out Alpaca rows with a list or >= 3 sentences", alpaca[listy | wordy]),
        ("held-out Alpaca instructions without output", held[held["corpus"] == "alpaca_noinput"]),
    ):
        fps = int((subset["score"] >= threshold).sum())
        print(f"FP rate at {threshold} on {label}: {fps / max(1, len(subset)):.4%} ({fps} of {len(subset):,})")
    pos = held[held["label"]]
    metas = pos["meta"].tolist()
    for style, render in STYLES.items():
        style_scores = pd.Series(scores(pos, [render(m["question"], m["rationale"], m["answer"]) for m in metas]))
        print(
            f"recall on held-out FLAN rows rewritten as {style}: {(style_scores >= cot.DEFAULT_THRESHOLD).mean():.4f}"
            f" at {cot.DEFAULT_THRESHOLD}, {(style_scores >= threshold).mean():.4f} at {threshold} (of {len(pos):,})"
        )
    by_task = pos.assign(hit=pos["score"] >= threshold).groupby("task")["hit"].mean()
    print("recall per FLAN task (importer style): " + ", ".join(f"{t} {v:.4f}" for t, v in by_task.items()))
    tagging_throughput(frame)


def tagging_throughput(frame: pd.DataFrame) -> None:
    """The full tagging job over the ~70K rows in a store: read, detect, save scores, materialise tags."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.duckdb")
        rows = frame[["instruction", "input", "output", "task", "task_cluster", "format", "source_row"]]
        examples.add_examples(store, rows, examples.SourceInfo(name="bench", format="bench"))
        start = time.perf_counter()
        result = cot_tagging.tag_rows(store, threshold=cot.DEFAULT_THRESHOLD)
        elapsed = time.perf_counter() - start
        print(
            f"tagging job throughput: {result['scored']:,} rows in {elapsed:.2f} s = "
            f"{result['scored'] / elapsed:,.0f} rows/s ({result['auto_tagged']:,} tagged cot)"
        )
        start = time.perf_counter()
        cot_tagging.tag_rows(store, threshold=0.6)
        print(f"re-run with nothing new + new threshold: {time.perf_counter() - start:.3f} s")
        store.close()


if __name__ == "__main__":
    main()
