"""Generation against a local OpenAI-compatible server: N in flight, same decisions at any concurrency,
429 with Retry-After and a dropped connection retried, resume after cancel without re-sending answers."""

from __future__ import annotations

import pytest

from curation.filters import ExampleFilter
from curation.generate import selfinstruct as si
from curation.generate.fake_server import FakeOpenAIServer
from curation.generate.openai_backend import OpenAIBackend
from curation.generate.selfinstruct_job import generation_job, resumable_run
from curation.io import importers
from curation.jobs import JobRunner
from curation.store import Store, examples, generation_runs, jobs_table
from tests.generate.test_selfinstruct import SEEDS, _seed_file

CFG = si.GenerationConfig(n_instructions=8, prompt_batch=3)


def _store(tmp_path, name: str) -> Store:
    store = Store(tmp_path / f"{name}.duckdb")
    importers.import_bytes(store, _seed_file(SEEDS), "seed_tasks.jsonl", "selfinstruct-seed")
    return store


def _backend(server: FakeOpenAIServer) -> OpenAIBackend:
    return OpenAIBackend(server.url, "fake", api_key_env="", backoff=0.01, jitter=0.0, timeout=10)


def _decisions(store: Store, run_id: int) -> tuple[list, list]:
    rows = examples.fetch(store, ExampleFilter(origins=["generated"]), ("instruction", "input", "output"))
    drops = store.query_rows(
        "SELECT stage, reason, instruction, input, output FROM generation_drops WHERE job_id = ? ORDER BY id", [run_id]
    )
    return rows.values.tolist(), drops


def _generate(store: Store, server: FakeOpenAIServer, concurrency: int, **kw) -> dict:
    job = generation_job(_backend(server), CFG, backend="openai", concurrency=concurrency, **kw)
    return JobRunner(store).run("selfinstruct", job, {"config": CFG.__dict__ | {"blacklist": list(CFG.blacklist)}})


@pytest.fixture
def baseline(tmp_path):
    with FakeOpenAIServer(seed=2) as server:
        store = _store(tmp_path, "sequential")
        result = _generate(store, server, 1)
        assert server.peak_in_flight == 1
        yield result, _decisions(store, result["run_id"]), server.requests


def test_concurrency_keeps_n_in_flight_and_makes_the_same_decisions(tmp_path, baseline) -> None:
    seq_result, seq_decisions, _ = baseline
    assert seq_result["kept"] == 8 and len(seq_decisions[0]) >= 8
    with FakeOpenAIServer(latency=0.2, seed=2) as server:
        store = _store(tmp_path, "parallel")
        result = _generate(store, server, 6)
        assert 2 <= server.peak_in_flight <= 6  # never more than asked for
        assert _decisions(store, result["run_id"]) == seq_decisions
        assert result["usage"]["requests"] == server.requests and result["usage"]["completion_tokens"] > 0


def test_429_with_retry_after_and_a_dropped_connection_are_retried(tmp_path, baseline) -> None:
    _, seq_decisions, seq_requests = baseline
    with FakeOpenAIServer(seed=2) as server:
        server.failures = {2: ("status", 429, {"Retry-After": "0"}), 4: ("drop",), 5: ("status", 503)}
        store = _store(tmp_path, "flaky")
        result = _generate(store, server, 4)
        assert _decisions(store, result["run_id"]) == seq_decisions
        assert server.requests == seq_requests + 3  # each fault cost exactly one extra request


def test_resume_after_cancel_continues_without_resending(tmp_path, baseline) -> None:
    _, seq_decisions, seq_requests = baseline
    store = _store(tmp_path, "resumed")
    with FakeOpenAIServer(latency=0.1, seed=2) as server:  # slow enough that the cancel lands mid-run
        runner = JobRunner(store)

        def cancel_midway(fraction: float, message: str | None) -> None:
            if server.requests >= seq_requests // 2:
                jobs_table.request_cancel(store, int(store.query_value("SELECT max(id) FROM jobs")))

        job = generation_job(_backend(server), CFG, backend="openai", concurrency=3)
        params = {"config": CFG.__dict__ | {"blacklist": list(CFG.blacklist)}}
        runner_ctx_hook = cancel_midway
        first = runner.run("selfinstruct", job, params, runner_ctx_hook)
        assert first["cancelled"] and first["kept"] < 8
        run_id = first["run_id"]
        # the result counts only what the store holds (the unfinished round is redone on resume)
        assert first["rows"] == examples.count(store, ExampleFilter(origins=["generated"]))
        assert first["kept"] == len(examples.fetch(store, ExampleFilter(origins=["generated"]))["instruction"].unique())
        assert jobs_table.get(store, run_id)["status"] == "cancelled"
        recorded = generation_runs.response_count(store, run_id)
        sent_before = server.requests
        job_row, cfg = resumable_run(store, run_id)
        assert cfg == CFG and job_row["id"] == run_id
        resumed = runner.run(
            "selfinstruct",
            generation_job(_backend(server), cfg, backend="openai", concurrency=3, resume_of=run_id),
            params | {"resume_of": run_id},
        )
        assert resumed["kept"] == 8 and resumed["run_id"] == run_id
        assert server.requests - sent_before == seq_requests - recorded  # nothing answered was sent again
        assert _decisions(store, run_id) == seq_decisions
        with pytest.raises(ValueError, match="already finished"):
            resumable_run(store, run_id)
