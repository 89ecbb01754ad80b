"""Kernels handed a parallel executor (a local Ray instance with 2 CPUs, or a pool of 2 local processes) give the
same tokens and pairs as in process; without Ray installed the app and the in-process dedups still work."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from curation import executors
from curation.cli import app
from curation.dedup import embeddings, rouge_join

WORDS = [
    "write",
    "a",
    "short",
    "poem",
    "about",
    "the",
    "sea",
    "list",
    "three",
    "tips",
    "for",
    "sleep",
    "why",
    "explain",
    "give",
    "summary",
    "of",
    "this",
    "story",
]


def near_duplicate_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        if texts and rng.random() < 0.4:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        else:
            words = rng.choices(WORDS, k=rng.randint(3, 40))
        texts.append(" ".join(words))
    return texts


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(params=["ray", "process-pool"])
def parallel(request: pytest.FixtureRequest) -> executors.Executor:
    if request.param == "process-pool":
        return executors.ProcessPool(2)
    request.getfixturevalue("local_ray")
    return executors.RayExecutor("local")


@pytest.mark.parametrize("tokenizer", ["rouge", "unicode"])
def test_chunks_tokenised_by_workers_number_tokens_as_in_process(
    parallel: executors.Executor, monkeypatch: pytest.MonkeyPatch, tokenizer: str
) -> None:
    texts = [*near_duplicate_texts(300, seed=4), "", "Straße İst 写诗 a+b", "x\u212a"]
    expected = rouge_join.tokenize_texts(texts, tokenizer)
    monkeypatch.setattr(rouge_join, "TOKENISE_CHUNK", 70)  # several chunks
    found = rouge_join.tokenize_texts(texts, tokenizer, parallel)
    np.testing.assert_array_equal(found.token_ids, expected.token_ids)
    np.testing.assert_array_equal(found.lengths, expected.lengths)
    assert found.encoded is not None and list(found.encoded) == list(expected.encoded)


def test_rouge_pairs_on_a_parallel_executor_equal_in_process(parallel: executors.Executor) -> None:
    texts = near_duplicate_texts(3000)
    expected = rouge_join.find_rouge_pairs(texts, 0.7)
    found = rouge_join.find_rouge_pairs(texts, 0.7, executor=parallel)
    assert len(expected) > 500
    pd.testing.assert_frame_equal(found, expected, check_exact=True)


@pytest.mark.parametrize("search", ["exact", "index"])
def test_cosine_pairs_on_a_parallel_executor_equal_in_process(parallel: executors.Executor, search: str) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 64)).astype(np.float32)
    copies = rng.choice(3000, 600, replace=False)
    vectors[copies] = vectors[rng.integers(0, 3000, 600)] + rng.normal(size=(600, 64)).astype(np.float32) * 0.3
    expected = embeddings.cosine_pairs(vectors, 0.9, search=search)
    found = embeddings.cosine_pairs(vectors, 0.9, search=search, executor=parallel)
    assert len(expected) > 100
    pd.testing.assert_frame_equal(found, expected, check_exact=True)


def test_cli_ray_pairs_file_equals_in_process(local_ray, tmp_path: Path) -> None:
    rows = [{"instruction": t, "input": "", "output": "ok"} for t in near_duplicate_texts(400, seed=2)]
    data = tmp_path / "data.json"
    data.write_text(json.dumps(rows))
    db = tmp_path / "cli.duckdb"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", str(db), "import", str(data), "--format", "alpaca"]).exit_code == 0
    outputs = []
    for extra in ([], ["--ray", "local"]):
        out = tmp_path / f"pairs{len(outputs)}.jsonl"
        result = runner.invoke(app, ["--db", str(db), "dedup", "rouge", "--pairs-out", str(out), *extra])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1] and outputs[0].count("\n") > 20


def test_cli_ray_embedding_pairs_equal_in_process(local_ray, tmp_path: Path) -> None:
    texts = near_duplicate_texts(300, seed=3)
    rows = [{"instruction": t, "input": "", "output": "ok"} for t in texts]
    data = tmp_path / "data.json"
    data.write_text(json.dumps(rows))
    runner = CliRunner()
    pairs = []
    for extra in ([], ["--ray", "local"]):
        db = tmp_path / f"cli{len(pairs)}.duckdb"  # a fresh database each: no cached vectors
        assert runner.invoke(app, ["--db", str(db), "import", str(data), "--format", "alpaca"]).exit_code == 0
        out = tmp_path / f"pairs{len(pairs)}.jsonl"
        args = ["--db", str(db), "dedup", "embed", "--backend", "torch", "--threshold", "0.9", "--pairs-out", str(out)]
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        pairs.append({(r["a_id"], r["b_id"]): r["score"] for r in lines if r["kind"] == "pair"})
    assert len(pairs[0]) > 50
    assert pairs[1].keys() == pairs[0].keys()  # batches of other rows around a text move its vector by ~1e-7
    assert max(abs(pairs[1][k] - pairs[0][k]) for k in pairs[0]) < 1e-5


def test_ray_chosen_on_the_dedup_page_runs_that_job_on_ray_with_the_same_pairs(local_ray) -> None:
    """The page's 'Run the parallel stages: on Ray' reaches the job (recorded in its parameters) without changing
    the setting for anything else in the server; its pairs equal an in-process run's."""
    from streamlit.testing.v1 import AppTest

    from curation.store import Store, dedup, examples, jobs_table

    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    rows = pd.DataFrame({"instruction": near_duplicate_texts(400, seed=5), "output": "ok"})
    examples.add_examples(store, rows, examples.SourceInfo(name="ray", format="test"))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "pages" / "7_Dedup.py"), default_timeout=60)
    at.run()
    runs_pairs = []
    for where in ("ray", "here"):
        at.radio(key="dd_where").set_value(where).run()
        assert at.text_input(key="dd_ray_address").value == "local" and not at.exception
        at.button(key="dd_start").click().run()
        job_id = int(at.session_state["dd_job"])
        deadline = time.monotonic() + 300
        while (job := jobs_table.get(store, job_id))["status"] not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, "the dedup job did not finish"
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
        assert job["params"]["ray_address"] == ("local" if where == "ray" else "")
        assert job["params"]["executor"] == ("ray" if where == "ray" else "in-process")
        assert os.environ.get("INSTRUCT_CURATOR_RAY_ADDRESS") is None  # the setting itself is untouched
        run = dedup.list_runs(store).iloc[0]
        runs_pairs.append(dedup.run_pairs(store, int(run["id"]))[["a_id", "b_id", "score"]])
        at.run()
    assert len(runs_pairs[0]) > 20
    pd.testing.assert_frame_equal(runs_pairs[0], runs_pairs[1], check_exact=True)


def test_an_unreachable_cluster_address_fails_at_once_with_one_line() -> None:
    """Ray retries an address that does not answer for minutes; a run says so in seconds instead."""
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again below: nothing listens there
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(RuntimeError, match=f"cannot reach the Ray cluster at {address}"):
            executors.check_reachable(address)
    executors.check_reachable("auto")  # left to Ray
    result = CliRunner().invoke(app, ["dedup", "rouge", "--ray", f"127.0.0.1:{port}"])
    assert result.exit_code != 0 and "cannot reach the Ray cluster" in " ".join(result.output.split())


def test_missing_ray_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RuntimeError, match=r'pip install "ray\[data\]"'):
        executors.ray_module()
    result = CliRunner().invoke(app, ["dedup", "rouge", "--ray", "local"])
    assert result.exit_code != 0 and 'pip install "ray[data]"' in result.output


def test_the_app_works_without_ray(tmp_path: Path) -> None:
    """With ray unimportable, the CLI, the pages' modules and both in-process dedups load and run."""
    script = (
        "import sys; sys.modules['ray'] = None\n"
        "import curation.cli, curation.dedup.runs, curation.executors\n"
        "from curation.dedup import rouge_join, embeddings\n"
        "import numpy as np\n"
        "pairs = rouge_join.find_rouge_pairs(['write a poem about the sea', 'write a poem about the sky', 'hi'])\n"
        "assert pairs[['a', 'b']].values.tolist() == [[0, 1]], pairs\n"
        "assert len(embeddings.cosine_pairs(np.eye(3, dtype=np.float32)[[0, 0, 1]], 0.9)) == 1\n"
        "print('ok')\n"
    )
    env = {**__import__("os").environ, "INSTRUCT_CURATOR_DB": str(tmp_path / "x.duckdb")}
    env.pop("INSTRUCT_CURATOR_RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
