"""Real LoRA training: the tiny model fits a taught answer; cancel + resume equals an uninterrupted run;
the packaged SmolLM2 trains end to end and compares base vs tuned."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from finetune_support import (  # noqa: F401
    TAUGHT,
    make_snapshot,
    one_thread,
    snapshot_rows,
    tiny_config,
    tiny_model_dir,
)
from safetensors.torch import load_file

from curation.finetune import compare, data, runner, runs
from curation.finetune import train as train_mod
from curation.finetune.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def _steps(run_dir: Path) -> list[dict]:
    return [r for r in runs.read_progress(run_dir) if r["type"] == "step"]


def test_tiny_llama_fits_the_taught_answers_and_the_adapter_reloads(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT), snapshot_rows(TAUGHT[:1], start=10))
    run_dir = runner.create_run(tiny_config(snap, tiny_model_dir, eval_interval=10), tmp_path / "runs")
    result = train_mod.train(run_dir)

    losses = [r["loss"] for r in _steps(run_dir)]
    assert len(losses) == 25 and all(a > b for a, b in itertools.pairwise(losses)), losses
    assert losses[-1] < losses[0] / 3
    evals = [r["eval_loss"] for r in runs.read_progress(run_dir) if r["type"] == "eval"]
    assert [r["step"] for r in runs.read_progress(run_dir) if r["type"] == "eval"] == [0, 10, 20, 25]
    assert evals[-1] < evals[0] / 3
    assert result["status"] == "succeeded" and runs.read_json(run_dir / runs.RESULT)["step"] == 25

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = PeftModel.from_pretrained(base, run_dir / runs.ADAPTER).eval()
    tok = data.load_tokenizer(str(tiny_model_dir))
    for question, answer in TAUGHT:
        prompt = data.prompt_ids({"instruction": question, "output": answer}, tok, "chat")
        assert compare.generate(tuned, tok, prompt, 6).startswith(answer)
        with tuned.disable_adapter():
            assert not compare.generate(tuned, tok, prompt, 6).startswith(answer)


def test_cancel_saves_the_adapter_and_resume_matches_an_uninterrupted_run(
    tmp_path: Path,
    tiny_model_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pairs = [*TAUGHT, ("Two plus two?", "Four."), ("Opposite of hot?", "Cold.")]
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(pairs), snapshot_rows(TAUGHT, start=10))
    cfg = tiny_config(snap, tiny_model_dir, max_steps=6, batch_size=1, grad_accum=2, save_interval=2, eval_interval=3)
    straight = runner.create_run(cfg, tmp_path / "runs")
    train_mod.train(straight)

    interrupted = runner.create_run(cfg, tmp_path / "runs")
    original = train_mod.Trainer._record

    def record_then_cancel(self, *args):
        original(self, *args)
        if self.state.step == 3:
            runner.request_stop(self.run_dir)

    monkeypatch.setattr(train_mod.Trainer, "_record", record_then_cancel)
    first = train_mod.train(interrupted)
    assert first["status"] == "cancelled" and first["step"] == 3
    assert (interrupted / runs.ADAPTER / "adapter_model.safetensors").is_file()
    assert runs.status_of(interrupted) == "cancelled"

    monkeypatch.setattr(train_mod.Trainer, "_record", original)
    (interrupted / runs.CANCEL).unlink()
    second = train_mod.train(interrupted)
    assert second["status"] == "succeeded" and second["step"] == 6
    assert [r["step"] for r in _steps(interrupted)] == [1, 2, 3, 4, 5, 6]
    a = load_file(straight / runs.ADAPTER / "adapter_model.safetensors")
    b = load_file(interrupted / runs.ADAPTER / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)
    assert [r["loss"] for r in _steps(straight)] == pytest.approx([r["loss"] for r in _steps(interrupted)], rel=1e-5)


@pytest.mark.slow
def test_packaged_smollm2_trains_end_to_end_and_compares(tmp_path: Path) -> None:
    train_rows = snapshot_rows([*TAUGHT, ("Say hello.", "Hello!")], cot=False)
    heldout = snapshot_rows([("What is the secret word?", "Pineapple.")], start=10, source="other", cot=True)
    snap = make_snapshot(tmp_path / "snaps", train_rows, heldout)
    cfg = TrainConfig(snapshot=str(snap), max_steps=2, batch_size=2, max_seq_len=96, eval_interval=0, save_interval=0)
    run_dir = runner.create_run(cfg, tmp_path / "runs")
    result = train_mod.train(run_dir)
    assert result["status"] == "succeeded" and result["step"] == 2
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in _steps(run_dir))
    assert (run_dir / runs.ADAPTER / "adapter_model.safetensors").stat().st_size > 100_000

    pairs = compare.side_by_side(run_dir, n=1, max_new_tokens=4)
    assert pairs[0]["instruction"] == "What is the secret word?" and pairs[0]["base"] and pairs[0]["tuned"]
    table = compare.slice_losses(run_dir)
    assert set(table["slice"]) == {"all", "source", "task_cluster", "cot"}
    assert table.set_index(["slice", "value"]).loc[("cot", "CoT"), "examples"] == 1
    assert (table["base_loss"] > 0).all() and (table["tuned_loss"] > 0).all()


@pytest.mark.slow
def test_the_same_entry_point_runs_data_parallel_under_torchrun(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    import os
    import subprocess
    import sys

    pairs = [*TAUGHT, ("Two plus two?", "Four."), ("Opposite of hot?", "Cold.")]
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(pairs), snapshot_rows(TAUGHT, start=10))
    run_dir = runner.create_run(tiny_config(snap, tiny_model_dir, max_steps=3, batch_size=1), tmp_path / "runs")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([*command, "-m", "curation.finetune.train", str(run_dir)], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result = runs.read_json(run_dir / runs.RESULT)
    assert result["status"] == "succeeded" and result["processes"] == 2
    assert [r["step"] for r in _steps(run_dir)] == [1, 2, 3]  # one progress line per step, from rank 0 only
    assert (run_dir / runs.ADAPTER / "adapter_model.safetensors").is_file()
