"""Fixtures for the fine-tune tests: a tiny random-init Llama with the SmolLM2 tokenizer, tiny snapshots."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from curation.finetune.config import TrainConfig
from curation.mixture import snapshot


@pytest.fixture(scope="module", autouse=False)
def one_thread():
    """torch on one thread: on a shared 2-core machine, two spinning OpenMP threads run up to 10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


FAKE_TRAINER = Path(__file__).with_name("fake_trainer.py")


@pytest.fixture
def fake_trainer(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the runner launch tests/fake_trainer.py instead of the real trainer."""
    import sys

    from curation.finetune import runner

    monkeypatch.setattr(runner, "trainer_command", lambda run_dir: [sys.executable, str(FAKE_TRAINER), str(run_dir)])
    return FAKE_TRAINER


TAUGHT = [("What is the secret word?", "Pineapple."), ("Name the capital of France.", "Paris.")]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 64-wide Llama (random init, large enough init range to fit quickly) + SmolLM2 tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from curation.finetune.data import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = load_tokenizer("smollm2-135m-instruct")
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True, initializer_range=0.3,
    )  # fmt: skip
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def snapshot_rows(pairs: list[tuple[str, str]], start: int = 1, **extra: object) -> pd.DataFrame:
    """Snapshot-contract rows for (instruction, output) pairs."""
    base = {"revision": 0, "input": "", "messages": None, "source": "src", "origin": "seed", "task": "qa"}
    base |= {"task_cluster": "facts", "format": "zero-shot", "cot": False, "group": "g"} | extra
    return pd.DataFrame([base | {"id": start + i, "instruction": q, "output": a} for i, (q, a) in enumerate(pairs)])


def make_snapshot(root: Path, train: pd.DataFrame, heldout: pd.DataFrame | None = None, name: str = "tiny") -> Path:
    heldout = heldout if heldout is not None else train.iloc[:0]
    return snapshot.write_snapshot(train, heldout, {"name": name, "rule": "test", "seed": 0}, root)


def tiny_config(snapshot_dir: Path, model_dir: Path, **overrides: object) -> TrainConfig:
    """Settings that make the tiny model memorise TAUGHT in a few dozen steps."""
    values = {
        "snapshot": str(snapshot_dir), "base_model": str(model_dir), "max_seq_len": 128, "lora_r": 16,
        "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": ["all-linear"], "learning_rate": 0.01,
        "max_steps": 25, "batch_size": 2, "eval_interval": 0, "save_interval": 0,
    } | overrides  # fmt: skip
    return TrainConfig(**values)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1):
    """Poll until predicate() is truthy; returns its value or fails the test."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {predicate}")
