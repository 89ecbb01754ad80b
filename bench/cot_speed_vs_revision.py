"""Detector speed and decisions of the working tree against an earlier revision, in one process.

    python bench/cot_speed_vs_revision.py [REV]     # REV defaults to HEAD

The revision's curation/cot/{signals,detector}.py are loaded from git as separate modules, and both detectors
score the same rows (the cot_bench corpus) in alternating rounds, so machine load hits both alike. Prints rows
per CPU-second for each, their ratio, and how many rows changed decision per source.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cot_bench import load  # noqa: E402

from curation.cot import detector as current  # noqa: E402


def load_revision(rev: str):
    """The detector module as it was at `rev` (its signals module loaded beside it under another name)."""
    folder = Path(tempfile.mkdtemp())
    for name in ("signals", "detector"):
        text = subprocess.run(
            ["git", "show", f"{rev}:curation/cot/{name}.py"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        (folder / f"base_{name}.py").write_text(text.replace("curation.cot.signals", "base_signals"))
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("base_detector", folder / "base_detector.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["base_detector"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def scores(module, rows: list[tuple]) -> tuple[list[float], float]:
    cpu = time.process_time()
    found = [module.detect_row(i, "", o, m if isinstance(m, list) else None).score for i, o, m in rows]
    return found, time.process_time() - cpu


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    base = load_revision(rev)
    frame = load()
    rows = list(zip(frame["instruction"], frame["output"], frame["messages"], strict=True))
    cpu = {"base": 0.0, "current": 0.0}
    for _ in range(2):  # alternate so load spikes hit both
        base_scores, spent = scores(base, rows)
        cpu["base"] += spent
        new_scores, spent = scores(current, rows)
        cpu["current"] += spent
    rate = {k: 2 * len(rows) / v for k, v in cpu.items()}
    print(
        f"detect speed, {len(rows):,} rows x 2 rounds: {rev} {rate['base']:,.0f} rows/CPU-s, working tree "
        f"{rate['current']:,.0f} rows/CPU-s, ratio {rate['current'] / rate['base']:.3f}"
    )
    t = current.DEFAULT_THRESHOLD
    frame["was"] = [s >= t for s in base_scores]
    frame["now"] = [s >= t for s in new_scores]
    for source, part in frame.groupby("source"):
        gained, lost = int((part["now"] & ~part["was"]).sum()), int((part["was"] & ~part["now"]).sum())
        if gained or lost:
            print(f"{source}: {gained} rows newly detected, {lost} no longer detected")


if __name__ == "__main__":
    main()
