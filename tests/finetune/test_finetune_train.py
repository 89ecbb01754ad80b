"""Real LoRA training on transformers' Trainer: the tiny model fits a taught answer; cancel + resume and crash +
resume equal an uninterrupted run; step loss is token-weighted across micro-batches; a SIGTERM to one torchrun rank
stops both and the run resumes; the packaged SmolLM2 trains end to end and compares base vs tuned."""

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
    kinds = [r.get("phase", r["type"]) for r in runs.read_progress(run_dir) if r["type"] in ("phase", "step", "eval")]
    phases = [k for i, k in enumerate(kinds) if k not in ("step", "eval") and (i == 0 or kinds[i - 1] != k)]
    assert phases[:3] == ["loading", "evaluating", "training"] and phases[-1] == "saving", kinds
    assert runner.run_state(runs.read_progress(run_dir))["phase"] == "saving"

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = PeftModel.from_pretrained(base, run_dir / runs.ADAPTER).eval()
    tok = data.load_tokenizer(str(tiny_model_dir))
    for question, answer in TAUGHT:
        prompt = data.prompt_ids({"instruction": question, "output": answer}, tok, "chat")
        assert compare.generate(tuned, tok, prompt, 6).startswith(answer)
        with tuned.disable_adapter():
            assert not compare.generate(tuned, tok, prompt, 6).startswith(answer)


PAIRS = [*TAUGHT, ("Two plus two?", "Four."), ("Opposite of hot?", "Cold.")]


def _resumable_config(tmp_path: Path, model_dir: Path) -> TrainConfig:
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(PAIRS), snapshot_rows(TAUGHT, start=10))
    return tiny_config(snap, model_dir, max_steps=6, batch_size=1, grad_accum=2, save_interval=2, eval_interval=3)


def _assert_same_adapter(a_dir: Path, b_dir: Path) -> None:
    a = load_file(a_dir / runs.ADAPTER / "adapter_model.safetensors")
    b = load_file(b_dir / runs.ADAPTER / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)


def test_cancel_saves_the_adapter_and_resume_matches_an_uninterrupted_run(
    tmp_path: Path,
    tiny_model_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _resumable_config(tmp_path, tiny_model_dir)
    straight = runner.create_run(cfg, tmp_path / "runs")
    train_mod.train(straight)

    interrupted = runner.create_run(cfg, tmp_path / "runs")
    original = train_mod.RunFolderCallback.on_step_end

    def cancel_at_step_3(self, args, state, control, **kwargs):
        if state.global_step == 3:
            runner.request_stop(interrupted)
        return original(self, args, state, control, **kwargs)

    monkeypatch.setattr(train_mod.RunFolderCallback, "on_step_end", cancel_at_step_3)
    first = train_mod.train(interrupted)
    assert first["status"] == "cancelled" and first["step"] == 3
    assert (interrupted / runs.ADAPTER / "adapter_model.safetensors").is_file()
    assert runs.last_checkpoint(interrupted).name == "checkpoint-3"
    assert runs.status_of(interrupted) == "cancelled"

    monkeypatch.setattr(train_mod.RunFolderCallback, "on_step_end", original)
    (interrupted / runs.CANCEL).unlink()
    second = train_mod.train(interrupted)
    assert second["status"] == "succeeded" and second["step"] == 6
    assert [r["step"] for r in _steps(interrupted)] == [1, 2, 3, 4, 5, 6]
    _assert_same_adapter(straight, interrupted)
    assert [r["loss"] for r in _steps(straight)] == pytest.approx([r["loss"] for r in _steps(interrupted)], rel=1e-5)


def test_resume_after_a_crash_drops_progress_past_the_restored_checkpoint(
    tmp_path: Path,
    tiny_model_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _resumable_config(tmp_path, tiny_model_dir)
    straight = runner.create_run(cfg, tmp_path / "runs")
    train_mod.train(straight)

    crashed = runner.create_run(cfg, tmp_path / "runs")
    original = train_mod.RunFolderCallback.on_log

    def crash_after_logging_step_3(self, args, state, control, logs=None, **kwargs):
        original(self, args, state, control, logs=logs, **kwargs)
        if state.global_step == 3 and "loss" in (logs or {}):
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(train_mod.RunFolderCallback, "on_log", crash_after_logging_step_3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_mod.train(crashed)
    assert [r["step"] for r in _steps(crashed)] == [1, 2, 3] and runs.last_checkpoint(crashed).name == "checkpoint-2"

    monkeypatch.setattr(train_mod.RunFolderCallback, "on_log", original)
    assert train_mod.train(crashed)["status"] == "succeeded"
    assert [r["step"] for r in _steps(crashed)] == [1, 2, 3, 4, 5, 6]  # step 3 once, from the resumed session
    evals = [r["step"] for r in runs.read_progress(crashed) if r["type"] == "eval"]
    assert evals == [0, 3, 6]
    _assert_same_adapter(straight, crashed)


def test_step_loss_is_weighted_by_tokens_across_micro_batches(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    from transformers import AutoModelForCausalLM

    pairs = [("Say one word.", "Yes."), ("Tell a long story.", "Once upon a time there was a very long answer " * 3)]
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(pairs))
    cfg = tiny_config(snap, tiny_model_dir, max_steps=1, batch_size=1, grad_accum=2, eval_interval=0)
    run_dir = runner.create_run(cfg, tmp_path / "runs")
    train_mod.train(run_dir)

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()  # LoRA starts as the identity
    tok = data.load_tokenizer(str(tiny_model_dir))
    encoded, _ = data.encode_frame(snapshot_rows(pairs), tok, "chat", cfg.max_seq_len, True)
    sums, counts = [], []
    with torch.no_grad():
        for e in encoded:
            logits = model(input_ids=torch.tensor([e.input_ids])).logits[0, :-1]
            target = torch.tensor(e.labels[1:])
            sums.append(float(torch.nn.functional.cross_entropy(logits, target, reduction="sum", ignore_index=-100)))
            counts.append(int((target != -100).sum()))
    by_token = sum(sums) / sum(counts)
    by_batch = sum(s / c for s, c in zip(sums, counts, strict=True)) / 2
    assert counts[0] * 3 < counts[1] and abs(by_token - by_batch) > 0.05  # the test can tell the two apart
    assert _steps(run_dir)[0]["loss"] == pytest.approx(by_token, rel=1e-4)


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


def _torchrun(run_dir: Path, **popen: object):
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([*command, "-m", "curation.finetune.train", str(run_dir)], env=env, **popen)


@pytest.mark.slow
def test_sigterm_to_one_rank_under_torchrun_stops_both_and_resume_finishes(
    tmp_path: Path,
    tiny_model_dir: Path,  # noqa: F811
) -> None:
    import os
    import signal
    import subprocess

    from finetune_support import wait_for

    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(PAIRS * 2), snapshot_rows(TAUGHT, start=10))
    cfg = tiny_config(snap, tiny_model_dir, max_steps=16, batch_size=1, eval_interval=0)
    run_dir = runner.create_run(cfg, tmp_path / "runs")
    proc = _torchrun(run_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(_steps(run_dir)) >= 2, timeout=240)
        os.kill(runs.read_pid(run_dir), signal.SIGTERM)  # rank 0 only: rank 1 never sees a stop request itself
        output = proc.communicate(timeout=240)[0].decode(errors="replace")
    finally:
        proc.kill()
    assert proc.returncode == 0, output[-3000:]
    result = runs.read_json(run_dir / runs.RESULT)
    assert result["status"] == "cancelled" and result["processes"] == 2 and 2 <= result["step"] < 16
    assert (run_dir / runs.ADAPTER / "adapter_model.safetensors").is_file()
    assert runs.last_checkpoint(run_dir).name == f"checkpoint-{result['step']}"

    resumed = _torchrun(run_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = resumed.communicate(timeout=300)[0].decode(errors="replace")
    assert resumed.returncode == 0, output[-3000:]
    result = runs.read_json(run_dir / runs.RESULT)
    assert result["status"] == "succeeded" and result["step"] == 16
    assert [r["step"] for r in _steps(run_dir)] == list(range(1, 17))  # one line per step, rank 0 only
