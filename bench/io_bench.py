"""Import/export benchmark: what strict parsing costs over a bare json.loads, and a full export -> re-import round trip.

    python bench/io_bench.py [--repeat 3]

Reads the two Alpaca files and the FLAN CoT TSVs in ../shared/data; uses a temporary database. Prints one line per
figure (best of --repeat, with process CPU time beside wall time: the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.filters import ExampleFilter  # noqa: E402
from curation.io import export, importers  # noqa: E402
from curation.store import Store  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ALPACA = ("alpaca_subset_5000.json", "alpaca_noinput_instructions_31323.json")


def best(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(wall s, cpu s, result) of the fastest of `repeat` runs."""
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu, result))
    return min(runs, key=lambda r: r[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name in ALPACA:
        data = (DATA / name).read_bytes()
        base_wall, base_cpu, _ = best(lambda d=data: json.loads(d), args.repeat)
        wall, cpu, rows = best(
            lambda d=data, n=name: importers.parse(d, n, "alpaca", allow_missing_output=True), args.repeat
        )
        print(
            f"parse {name}: {len(rows):,} rows in {wall:.2f} s (cpu {cpu:.2f} s); bare json.loads {base_wall:.2f} s "
            f"(cpu {base_cpu:.2f} s); strict / bare = {wall / base_wall:.1f}x"
        )
    tsvs = sorted((DATA / "flan_cot").glob("*.tsv"))
    wall, cpu, total = best(
        lambda: sum(len(importers.parse(p.read_bytes(), p.name, "flan-cot-tsv")) for p in tsvs), args.repeat
    )
    print(f"parse flan_cot/*.tsv: {total:,} rows in {wall:.2f} s (cpu {cpu:.2f} s)")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.duckdb")
        for name in ALPACA:
            importers.import_file(store, DATA / name, "alpaca", allow_missing_output=True)
        for fmt in export.EXPORT_FORMATS:
            out = Path(folder) / f"all{export.EXTENSIONS[fmt]}"
            wall, cpu, done = best(
                lambda f=fmt, o=out: export.export(store, ExampleFilter(), f, o, overwrite=True), args.repeat
            )
            size = out.stat().st_size / 1e6
            again = Store(Path(folder) / f"again-{fmt}.duckdb")
            back_wall, _, result = best(
                lambda f=fmt, o=out, s=again: importers.import_bytes(
                    s, o.read_bytes(), o.name, f, allow_missing_output=True, reimport=True
                ),
                1,
            )
            again.close()
            print(
                f"export {fmt}: {done.manifest['rows']:,} rows, {size:.1f} MB, atomic write in {wall:.2f} s "
                f"(cpu {cpu:.2f} s); re-import {result.rows:,} rows in {back_wall:.2f} s"
            )
        store.close()


if __name__ == "__main__":
    main()
