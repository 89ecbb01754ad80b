"""Self-Instruct generation throughput against a local OpenAI-compatible server with a fixed latency per request.

    python bench/generate_bench.py [--latency 0.5] [--n 200] [--sequential-n 30]

The server answers every instruction prompt with 7 real Alpaca no-input instructions (drawn per prompt from
../shared/data, so the ROUGE-L filter and the keyword filters do real work) and every classification / instance
prompt like the fake backend. The pool starts from the 175 human Self-Instruct seeds. One run measures kept
instructions per minute at concurrency 1 (on a shorter run: it needs ~1 s of latency per kept instruction), 16
(the default) and 64, and the time to keep `--n` at the defaults (target: 200 in <= 40 s at 0.5 s latency).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.generate import selfinstruct as si  # noqa: E402
from curation.generate.fake_server import FakeOpenAIServer  # noqa: E402
from curation.generate.llm import Completion, FakeLLM  # noqa: E402
from curation.generate.openai_backend import OpenAIBackend  # noqa: E402
from curation.generate.selfinstruct_job import generation_job  # noqa: E402
from curation.io import importers  # noqa: E402
from curation.jobs import JobRunner  # noqa: E402
from curation.store import Store  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def alpaca_answer(instructions: list[str]):
    fake = FakeLLM(seed=0)

    def answer(prompt: str, body: dict) -> Completion:
        if not prompt.startswith(si.LIST_HEADER):
            return fake.complete(prompt, max_tokens=body.get("max_tokens", 256), stop=body.get("stop") or ())
        items = random.Random(prompt).sample(instructions, 7)
        return Completion(" " + "\n".join(f"{i}. {t}" if i > 9 else t for i, t in enumerate(items, start=9)))

    return answer


def run_once(server: FakeOpenAIServer, n: int, concurrency: int, workdir: Path) -> tuple[float, int, int]:
    store = Store(workdir / f"bench_c{concurrency}_n{n}.duckdb")
    importers.import_file(store, DATA / "self_instruct_seed_tasks.jsonl", "selfinstruct-seed")
    llm = OpenAIBackend(server.url, "bench", api_key_env="", timeout=30)
    cfg = si.GenerationConfig(n_instructions=n)
    sent = server.requests
    start = time.perf_counter()
    result = JobRunner(store).run("selfinstruct", generation_job(llm, cfg, backend="openai", concurrency=concurrency))
    seconds = time.perf_counter() - start
    store.close()
    return seconds, result["kept"], server.requests - sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--sequential-n", type=int, default=30)
    args = parser.parse_args()
    rows = json.loads((DATA / "alpaca_noinput_instructions_31323.json").read_text(encoding="utf-8"))
    instructions = [r["instruction"] for r in rows]
    rates = {}
    with (
        FakeOpenAIServer(latency=args.latency, answer=alpaca_answer(instructions)) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for concurrency, n in ((1, args.sequential_n), (16, args.n), (64, args.n)):
            seconds, kept, requests = run_once(server, n, concurrency, Path(tmp))
            rates[concurrency] = kept / seconds * 60
            print(
                f"concurrency {concurrency:>2}: kept {kept} in {seconds:.1f} s ({rates[concurrency]:.0f} kept/min, "
                f"{requests} requests, peak in flight {server.peak_in_flight}, latency {args.latency} s)"
            )
            server.peak_in_flight = 0
            if concurrency == 16:
                verdict = "meets" if kept >= 200 and seconds <= 40 else "misses"
                print(f"defaults: {kept} kept in {seconds:.1f} s ({verdict} the 200 in <= 40 s target)")
    print(f"speed-up vs concurrency 1: 16 -> {rates[16] / rates[1]:.1f}x, 64 -> {rates[64] / rates[1]:.1f}x")


if __name__ == "__main__":
    main()
