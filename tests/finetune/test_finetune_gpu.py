"""Devices and precision: CPU refuses GPU-only settings with the fix; on a CUDA machine, bf16/fp16 and 4-bit QLoRA
train for real (skipped without CUDA; run them with `python -m pytest tests/finetune/test_finetune_gpu.py`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from finetune_support import (  # noqa: F401
    TAUGHT,
    make_snapshot,
    snapshot_rows,
    tiny_config,
    tiny_model_dir,
)

from curation.finetune import runner, runs
from curation.finetune import train as train_mod
from curation.finetune.config import TrainConfig, check_fields, precision

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


@pytest.mark.skipif(CUDA, reason="checks the CPU-only refusals")
def test_cpu_refuses_gpu_only_settings_with_the_fix() -> None:
    assert check_fields(TrainConfig(load_in_4bit=True)) == [
        "load_in_4bit: 4-bit QLoRA needs a CUDA GPU (none found); set load_in_4bit false"
    ]
    assert check_fields(TrainConfig(mixed_precision="bf16")) == [
        "mixed_precision: bf16 needs a CUDA GPU; use auto (fp32 on CPU) or no"
    ]
    assert precision(TrainConfig()) == "no"  # auto is fp32 on CPU


@needs_cuda
def test_auto_precision_trains_in_bf16_or_fp16_on_cuda(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT), snapshot_rows(TAUGHT[:1], start=10))
    run_dir = runner.create_run(tiny_config(snap, tiny_model_dir, max_steps=10, eval_interval=5), tmp_path / "runs")
    result = train_mod.train(run_dir)
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert result["status"] == "succeeded" and result["precision"] == expected and result["device"].startswith("cuda")
    losses = [r["loss"] for r in runs.read_progress(run_dir) if r["type"] == "step"]
    assert losses[-1] < losses[0] and result["final_eval_loss"] < result["first_eval_loss"]


@needs_cuda
@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes")
@pytest.mark.slow
def test_qlora_4bit_trains_the_packaged_model_on_cuda(tmp_path: Path) -> None:
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT), snapshot_rows(TAUGHT[:1], start=10))
    cfg = TrainConfig(snapshot=str(snap), load_in_4bit=True, max_steps=5, batch_size=2, max_seq_len=96, eval_interval=5)
    result = train_mod.train(runner.create_run(cfg, tmp_path / "runs"))
    assert result["status"] == "succeeded" and result["final_eval_loss"] < result["first_eval_loss"]
    assert Path(result["adapter"], "adapter_model.safetensors").stat().st_size > 100_000
