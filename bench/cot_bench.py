"""CoT detector benchmark on real reasoning text only: recall, precision and F1 per source, and throughput.

    python bench/cot_bench.py

Positives (nothing is appended or rewritten by this script):
- BIG-Bench Hard CoT (27 reasoning styles): `rationale_bare` and `rationale_with_answer` as written;
- FLAN CoT rationales as the TSV stores them (no "So the answer is" sentence), with the options block removed
  from the question, so neither an answer marker nor an option match can help;
- the hand-written reasoning fixture in tests/cot/fixtures/reasoning.jsonl.
Negatives: the 5,000-row Alpaca subset (its outputs) and tests/cot/fixtures/non_reasoning.jsonl (code,
recipes, how-to steps, role-play, essays, lists).
Held-out check set (written for this project, not used to tune the rules it was measured with first):
tests/cot/fixtures/heldout_reasoning.jsonl (GSM8K/MATH/R1/code-tracing/commonsense/puzzle/multi-turn styles) vs
heldout_non_reasoning.jsonl; multi-turn rows are scored on their `messages` like a stored row. The rules were then
improved on what it missed, so a second set, blind_reasoning.jsonl vs blind_non_reasoning.jsonl (20 + 20, also
written for this project), was written afterwards and measured without tuning on it.
All figures are at the default threshold; one line each.
Reads ../shared/data beside the repository. BBH carries a canary: it is used here for measurement only.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from curation.cot import batch  # noqa: E402
from curation.cot import detector as cot  # noqa: E402
from curation.cot import tagging as cot_tagging  # noqa: E402
from curation.store import Store, examples  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FIXTURES = ROOT / "tests" / "cot" / "fixtures"
_OPTIONS_BLOCK = re.compile(r"\n?\s*Options:.*\Z", re.S | re.I)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def load() -> pd.DataFrame:
    """Every benchmark row: instruction, output, source, label."""
    frames = []
    bbh = pd.DataFrame(_jsonl(DATA / "bbh_cot" / "bbh_cot_davinci002.jsonl"))
    for column, source in (("rationale_bare", "bbh_bare"), ("rationale_with_answer", "bbh_with_answer")):
        frames.append(pd.DataFrame({"instruction": bbh["question"], "output": bbh[column], "source": source}))
    for path in sorted((DATA / "flan_cot").glob("*.tsv")):
        reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8")), delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = [[f.replace("\\n", "\n").strip() for f in r] for r in reader if len(r) == 3]
        frames.append(
            pd.DataFrame(
                {
                    "instruction": [_OPTIONS_BLOCK.sub("", q) for q, _, _ in rows],
                    "output": [r for _, _, r in rows],
                    "source": f"flan_bare/{path.stem.removesuffix('_train')}",
                }
            )
        )
    positives = pd.concat(frames, ignore_index=True).assign(label=True)
    hand = pd.DataFrame(_jsonl(FIXTURES / "reasoning.jsonl")).assign(source="fixture_reasoning", label=True)
    alpaca = pd.DataFrame(json.loads((DATA / "alpaca_subset_5000.json").read_text(encoding="utf-8")))
    alpaca["instruction"] = alpaca["instruction"] + "\n" + alpaca["input"]
    heldout = [
        pd.DataFrame(_jsonl(FIXTURES / f"{kind}_{name}.jsonl")).assign(source=f"{kind}_{name}", label=label)
        for kind in ("heldout", "blind")
        for name, label in (("reasoning", True), ("non_reasoning", False))
    ]
    negatives = pd.DataFrame(_jsonl(FIXTURES / "non_reasoning.jsonl"))
    kinds = negatives["kind"].where(negatives["kind"].isin(["code", "recipe", "roleplay"]), "other")
    negatives["source"] = "fixture_" + kinds
    frame = pd.concat(
        [positives, hand, alpaca.assign(source="alpaca_5000", label=False), negatives.assign(label=False), *heldout],
        ignore_index=True,
    )
    return frame[["instruction", "output", "messages", "source", "label"]]


def prf(frame: pd.DataFrame) -> tuple[float, float, float]:
    tp = int((frame["label"] & frame["hit"]).sum())
    fp = int((~frame["label"] & frame["hit"]).sum())
    fn = int((frame["label"] & ~frame["hit"]).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    frame = load()
    start, cpu = time.perf_counter(), time.process_time()
    frame["score"] = [
        cot.detect_row(i, "", o, m if isinstance(m, list) else None).score
        for i, o, m in zip(frame["instruction"], frame["output"], frame["messages"], strict=True)
    ]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"detect throughput: {len(frame):,} rows in {elapsed:.2f} s wall, {cpu:.2f} s CPU = "
        f"{len(frame) / cpu:,.0f} rows per CPU-second (one process)"
    )
    frame["hit"] = frame["score"] >= cot.DEFAULT_THRESHOLD
    t = cot.DEFAULT_THRESHOLD
    for source, rows in frame.groupby("source"):
        kind = "recall" if rows["label"].iloc[0] else "false-positive rate"
        value = rows["hit"].mean()
        print(f"{source}: {kind} {value:.4f} ({int(rows['hit'].sum())} of {len(rows):,} detected) at {t}")
    src = frame["source"]
    alpaca = src == "alpaca_5000"
    flan = src.str.startswith("flan_bare/")
    for label, subset in (
        ("BBH bare + BBH with answers vs Alpaca", src.str.startswith("bbh_") | alpaca),
        ("BBH bare vs Alpaca", (src == "bbh_bare") | alpaca),
        ("FLAN rationales (no answer sentence, no options) vs Alpaca", flan | alpaca),
    ):
        p, r, f1 = prf(frame[subset])
        print(f"{label}: precision {p:.4f} recall {r:.4f} F1 {f1:.4f} at {t}")
    for kind, label in (
        ("heldout_", "held-out check set (41 vs 41)"),
        ("blind_", "blind set, never tuned on (20 vs 20)"),
    ):
        p, r, f1 = prf(frame[src.str.startswith(kind)])
        print(f"{label}: precision {p:.4f} recall {r:.4f} F1 {f1:.4f} at {t}")
    fixtures = src.str.startswith("fixture_")
    p, r, f1 = prf(frame[fixtures])
    print(f"hand-written fixtures (24 reasoning vs 38 code/recipe/role-play/other): precision {p:.4f} recall {r:.4f}")
    hard = frame[src.isin(["fixture_code", "fixture_recipe", "fixture_roleplay"]) | src.str.startswith("bbh_") | flan]
    p, _, _ = prf(hard)
    print(f"precision with code, recipe and role-play outputs as the negatives (BBH + FLAN positives): {p:.4f}")
    tasks = pd.DataFrame(_jsonl(DATA / "bbh_cot" / "bbh_cot_davinci002.jsonl"))["task"].to_numpy()
    bbh = frame[src == "bbh_bare"].assign(task=tasks)
    worst = bbh.groupby("task")["hit"].mean().sort_values().head(6)
    print("lowest BBH bare recall per task: " + ", ".join(f"{k} {v:.2f}" for k, v in worst.items()))
    tagging_throughput(frame)


def tagging_throughput(frame: pd.DataFrame) -> None:
    """The full tagging job (read, detect, save scores, materialise tags) over ~70K rows in a store."""
    rows = pd.concat([frame] * 2, ignore_index=True)[["instruction", "output"]].assign(input="")
    rows["source_row"] = range(len(rows))
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.duckdb")
        examples.add_examples(store, rows, examples.SourceInfo(name="bench", format="bench"))
        start = time.perf_counter()
        result = cot_tagging.tag_rows(store, threshold=cot.DEFAULT_THRESHOLD)
        elapsed = time.perf_counter() - start
        print(
            f"tagging job throughput: {result['scored']:,} rows in {elapsed:.2f} s wall = "
            f"{result['scored'] / elapsed:,.0f} rows/s, scoring in {batch._workers()} worker processes "
            f"({result['auto_tagged']:,} tagged cot)"
        )
        store.close()


if __name__ == "__main__":
    main()
