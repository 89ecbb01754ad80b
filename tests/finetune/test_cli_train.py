"""CLI: train (foreground with the real trainer, detached), runs, status, resume, compare, exports, jobs cancel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from finetune_support import (  # noqa: F401
    TAUGHT,
    fake_trainer,
    make_snapshot,
    snapshot_rows,
    tiny_config,
    tiny_model_dir,
    wait_for,
)
from typer.testing import CliRunner

from curation.cli import app
from curation.finetune import runs
from curation.finetune.config import TrainConfig, load_config, save_config
from curation.store import Store, jobs_table


@pytest.fixture
def cli(tmp_path: Path):
    def invoke(*args: str):
        return CliRunner().invoke(app, ["--db", str(tmp_path / "cli.duckdb"), *map(str, args)])

    return invoke


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    return make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT), snapshot_rows(TAUGHT[:1], start=10, cot=True))


def _jobs(tmp_path: Path) -> list[dict]:
    store = Store(tmp_path / "cli.duckdb")
    try:
        return jobs_table.list_jobs(store).to_dict("records")
    finally:
        store.close()


def test_train_in_the_foreground_then_runs_status_compare_and_merge(
    cli,
    snap: Path,
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = save_config(tiny_config("", tiny_model_dir, max_steps=3, eval_interval=2), tmp_path / "TRAIN.yaml")
    result = cli("train", "--snapshot", snap, "--config", cfg)
    assert result.exit_code == 0, result.output
    assert "2 train / 1 held-out examples" in result.output and "3 steps" in result.output
    assert "succeeded: step 3/3" in result.output
    (run,) = runs.list_runs()
    assert run["status"] == "succeeded" and run["has_adapter"] and run["snapshot_hash"] == snap.name[-12:]
    assert [(j["kind"], j["status"], j["run_dir"]) for j in _jobs(tmp_path)] == [("finetune", "succeeded", run["path"])]

    listed = cli("train", "runs", "--json")
    assert json.loads(listed.output)[0]["run"] == run["run"] and json.loads(listed.output)[0]["step"] == 3
    assert run["run"] in cli("train", "runs").output
    assert "succeeded, step 3/3" in cli("train", "status", run["path"]).output
    again = cli("train", "resume", run["path"])
    assert again.exit_code == 1 and "already finished; start a new run" in again.output

    compared = cli("train", "compare", run["path"], "--n", "1", "--max-new-tokens", "3")
    assert compared.exit_code == 0, compared.output
    assert "#10 What is the secret word?" in compared.output and "tuned:" in compared.output
    assert "task_cluster" in compared.output and "non-CoT" not in compared.output and "CoT" in compared.output
    merged = cli("train", "export-merged", run["path"], "--out", tmp_path / "merged")
    assert merged.exit_code == 0 and (tmp_path / "merged" / "model.safetensors").is_file()


def test_bad_settings_are_listed_and_nothing_starts(cli, snap: Path, tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = save_config(tiny_config(snap, tiny_model_dir, max_seq_len=20, lora_dropout=2.0), tmp_path / "T.yaml")
    result = cli("train", "--config", cfg)
    assert result.exit_code == 1
    assert "error: lora_dropout: must be in [0, 1); got 2.0" in result.output
    assert "error: max_seq_len: 20 is shorter than the prompt of 2 train row(s)" in result.output
    assert runs.list_runs() == [] and cli("train", "check", "--config", cfg).exit_code == 1
    (tmp_path / "bad.yaml").write_text("lr: 0.1\n")
    unknown = cli("train", "--config", tmp_path / "bad.yaml")
    assert unknown.exit_code == 1 and "unknown setting(s) ['lr']" in unknown.output


def test_detached_training_is_cancelled_by_jobs_cancel(
    cli,
    snap: Path,
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    fake_trainer: Path,  # noqa: F811
    monkeypatch,
) -> None:
    monkeypatch.setenv("FAKE_TRAINER_STEP_S", "0.3")
    cfg = save_config(tiny_config(snap, tiny_model_dir, max_steps=100), tmp_path / "TRAIN.yaml")
    started = cli("train", "--config", cfg, "--detach")
    assert started.exit_code == 0 and "started job 1" in started.output, started.output
    run_dir = Path(runs.list_runs()[0]["path"])
    wait_for(lambda: runs.read_progress(run_dir)[1:])
    assert _jobs(tmp_path)[0]["status"] == "running" and _jobs(tmp_path)[0]["pid"] == runs.read_pid(run_dir)
    assert cli("jobs", "cancel", "1").output.strip() == "cancel requested for job 1"
    wait_for(lambda: runs.status_of(run_dir) == "cancelled", timeout=30)
    assert runs.read_json(run_dir / runs.RESULT)["step"] < 100


def test_export_llamafactory_writes_datasets_and_keeps_other_entries(cli, tmp_path: Path) -> None:
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    train = snapshot_rows(TAUGHT)
    train["messages"] = [None, chat]  # the second row is a conversation
    snap = make_snapshot(tmp_path / "snaps", train, snapshot_rows(TAUGHT[:1], start=10), name="mix")
    out = tmp_path / "lf"
    out.mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"alpaca_en": {"file_name": "alpaca_en.json"}}))
    result = cli("train", "export-llamafactory", snap, "--out", out)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "dataset_info.json").read_text())
    assert sorted(info) == ["alpaca_en", "mix", "mix_heldout", "mix_sharegpt"]
    assert info["mix"]["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}
    assert info["mix_sharegpt"]["formatting"] == "sharegpt" and info["mix_sharegpt"]["tags"]["role_tag"] == "role"
    assert json.loads((out / "mix.json").read_text()) == [
        {"instruction": "What is the secret word?", "input": "", "output": "Pineapple."}
    ]
    assert json.loads((out / "mix_sharegpt.json").read_text()) == [{"messages": chat}]
    assert json.loads((out / "mix_heldout.json").read_text())[0]["output"] == "Pineapple."


def test_init_writes_defaults_and_every_command_has_help(cli, tmp_path: Path) -> None:
    assert cli("train", "init", tmp_path / "T.yaml").exit_code == 0
    assert load_config(tmp_path / "T.yaml") == TrainConfig()
    assert cli("train", "init", tmp_path / "T.yaml").exit_code == 1
    commands = [
        "init",
        "check",
        "resume",
        "runs",
        "status",
        "cancel",
        "compare",
        "export-llamafactory",
        "export-merged",
    ]
    for command in [[], *([c] for c in commands)]:
        result = cli("train", *command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, command


def test_training_works_while_the_app_holds_the_database(
    snap: Path,
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    fake_trainer: Path,  # noqa: F811
) -> None:
    db = tmp_path / "held.duckdb"
    Store(db).close()
    code = f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('ready', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        cfg = save_config(tiny_config(snap, tiny_model_dir, max_steps=4), tmp_path / "TRAIN.yaml")
        result = CliRunner().invoke(app, ["--db", str(db), "train", "--config", str(cfg)])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 0, result.output
    assert f"is locked by process {holder.pid}" in result.output and "training without a job row" in result.output
    assert "succeeded: step 4/4" in result.output and runs.list_runs()[0]["status"] == "succeeded"
