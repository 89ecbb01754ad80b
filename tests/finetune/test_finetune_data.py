"""Fine-tune data and settings: prompt masking, packing without cross-example attention, config, validation."""

from __future__ import annotations

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

from curation.finetune import data
from curation.finetune.config import TrainConfig, config_from_dict, load_config, save_config, validate

pytestmark = pytest.mark.usefixtures("one_thread")

ROWS = [
    {"id": 1, "instruction": "Say hi", "input": "", "output": "Hi there, friend."},
    {"id": 2, "instruction": "Name a color", "input": "warm ones only", "output": "Red"},
    {"id": 3, "instruction": "x", "input": "", "output": "y"},
    {
        "id": 4,
        "instruction": "",
        "input": "",
        "output": "",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "and 3+3?"},
            {"role": "assistant", "content": "6"},
        ],
    },
]


@pytest.fixture(scope="module")
def tok():
    return data.load_tokenizer("smollm2-135m-instruct")


@pytest.mark.parametrize("fmt", ["chat", "alpaca"])
@pytest.mark.parametrize("row", ROWS[:3], ids=lambda r: str(r["id"]))
def test_labels_are_masked_exactly_over_the_prompt(tok, fmt: str, row: dict) -> None:
    enc = data.encode(row, tok, fmt, 512, response_only=True)
    prompt, response = data.render(row, tok, fmt)
    p_ids = tok(prompt, add_special_tokens=fmt == "alpaca").input_ids
    r_ids = tok(response, add_special_tokens=False).input_ids
    assert enc.input_ids == p_ids + r_ids
    assert enc.labels == [-100] * len(p_ids) + r_ids
    assert enc.prompt_len == len(p_ids)
    last_answer = data.conversation(row)[-1]["content"]
    assert tok.decode(r_ids).startswith(last_answer) and last_answer not in tok.decode(p_ids)[-len(last_answer) :]
    full = data.encode(row, tok, fmt, 512, response_only=False)
    assert full.labels == full.input_ids


def _trained_spans(enc: data.Encoded) -> list[list[int]]:
    """Runs of consecutive trained label ids."""
    spans: list[list[int]] = []
    for previous, label in zip([-100, *enc.labels], enc.labels, strict=False):
        if label != -100:
            spans.append([label]) if previous == -100 else spans[-1].append(label)
    return spans


@pytest.mark.parametrize(
    ("fmt", "replies"), [("chat", ["4<|im_end|>\n", "6<|im_end|>\n"]), ("alpaca", ["4<|im_end|>", "6<|im_end|>"])]
)
def test_every_assistant_turn_of_a_conversation_trains_and_nothing_else(tok, fmt: str, replies: list[str]) -> None:
    enc = data.encode(ROWS[3], tok, fmt, 512, response_only=True)
    assert [tok.decode(span) for span in _trained_spans(enc)] == replies
    assert all(label in (-100, token) for label, token in zip(enc.labels, enc.input_ids, strict=True))
    context = tok.decode([t for t, label in zip(enc.input_ids, enc.labels, strict=True) if label == -100])
    assert "Be brief." in context and "2+2?" in context and "and 3+3?" in context
    assert "4" not in context.replace("2+2", "").replace("3+3", "")


def test_chat_prompt_holds_earlier_turns_and_ends_with_the_assistant_header(tok) -> None:
    prompt, response = data.render(ROWS[3], tok, "chat")
    assert "Be brief." in prompt and "2+2?" in prompt and "and 3+3?" in prompt
    assert prompt.endswith("<|im_start|>assistant\n") and response == "6<|im_end|>\n"
    alpaca_prompt, alpaca_response = data.render(ROWS[1], tok, "alpaca")
    assert "### Input:\nwarm ones only" in alpaca_prompt and alpaca_response == "Red" + tok.eos_token


def test_long_responses_are_cut_and_long_prompts_refused(tok) -> None:
    row = {"id": 9, "instruction": "Count", "input": "", "output": " ".join(["one"] * 300)}
    enc = data.encode(row, tok, "chat", 64, True)
    assert len(enc) == 64 and enc.truncated
    with pytest.raises(ValueError, match="example 9: prompt has"):
        data.encode(row | {"instruction": "word " * 100}, tok, "chat", 64, True)


def test_pack_fills_rows_without_exceeding_max_len() -> None:
    lengths = [50, 60, 30, 70, 20, 100, 10]
    bins = data.pack(lengths, 100)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 100 for b in bins)
    assert bins == [[0, 2, 4], [1, 6], [3], [5]]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_logits_equal_each_example_alone(tok, tiny_model_dir: Path, attn: str) -> None:  # noqa: F811
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attn).eval()
    enc = [data.encode(r, tok, "chat", 512, False) for r in ROWS]
    batch = data.collate_packed([enc[:3], enc[3:]], tok.pad_token_id)
    assert batch["tokens"] == sum(len(e) for e in enc) and "attention_mask" not in batch
    with torch.no_grad():
        packed = model(**data.model_inputs(batch, "cpu")).logits
        unmasked = model(input_ids=batch["input_ids"], use_cache=False).logits
        for row, group in enumerate([enc[:3], enc[3:]]):
            start = 0
            for e in group:
                alone = model(input_ids=torch.tensor([e.input_ids]), use_cache=False).logits[0]
                torch.testing.assert_close(packed[row, start : start + len(e)], alone, atol=1e-5, rtol=1e-4)
                assert batch["labels"][row, start] == -100  # no loss across the example boundary
                start += len(e)
    second = slice(len(enc[0]), len(enc[0]) + len(enc[1]))
    assert not torch.allclose(unmasked[0, second], packed[0, second], atol=1e-3)  # the test can tell


def test_epoch_batches_are_seeded_and_cover_every_example(tok) -> None:
    enc = [data.encode(r, tok, "chat", 512, True) for r in ROWS] * 3
    one = data.epoch_batches(enc, 2, False, 512, seed=5, pad_id=tok.pad_token_id)
    two = data.epoch_batches(enc, 2, False, 512, seed=5, pad_id=tok.pad_token_id)
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(one, two, strict=True))
    assert sum(b["tokens"] for b in one) == sum(len(e) for e in enc)
    packed = data.epoch_batches(enc, 2, True, 512, seed=5, pad_id=tok.pad_token_id)
    assert sum(b["tokens"] for b in packed) == sum(len(e) for e in enc) and len(packed) < len(one)


def test_config_yaml_round_trip_and_errors(tmp_path: Path) -> None:
    cfg = TrainConfig(snapshot="/s", target_modules=["all-linear"], packing=True, learning_rate=1e-3)
    assert load_config(save_config(cfg, tmp_path / "t.yaml")) == cfg
    assert config_from_dict({"target_modules": "q_proj, v_proj"}).target_modules == ["q_proj", "v_proj"]
    (tmp_path / "bad.yaml").write_text("lr: 0.1\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown setting\(s\) \['lr'\]; known settings: snapshot"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(ValueError, match="batch_size: expected int, got 'many'"):
        config_from_dict({"batch_size": "many"})


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    return make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT), snapshot_rows(TAUGHT[:1], start=10))


def test_valid_settings_pass(snap: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    assert validate(tiny_config(snap, tiny_model_dir)) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"max_seq_len": 20},
            "max_seq_len: 20 is shorter than the prompt of 2 train row(s) (e.g. example 1: 36 tokens), which cannot "
            "be truncated; set long_rows: drop or raise max_seq_len to 42",
        ),
        ({"batch_size": 4096, "max_seq_len": 512}, "batch_size: 4096 x max_seq_len 512 needs about"),
        ({"target_modules": ["qkv"]}, "target_modules: ['qkv'] are not linear layers of this model; use some of"),
        ({"learning_rate": 5.0}, "learning_rate: must be in (0, 1]"),
        ({"prompt_format": "vicuna"}, "prompt_format: must be one of ('chat', 'alpaca')"),
        ({"base_model": "/nowhere"}, "base_model: model folder /nowhere has no config.json"),
        ({"snapshot": "/nowhere"}, "snapshot: /nowhere is not a snapshot"),
    ],
)
def test_bad_settings_name_the_field_and_the_fix(snap: Path, tiny_model_dir: Path, overrides, expected) -> None:  # noqa: F811
    errors = validate(tiny_config(snap, tiny_model_dir, **overrides), memory_bytes=8 * 2**30)
    assert any(e.startswith(expected) for e in errors), errors


def test_memory_error_suggests_a_batch_that_fits(snap: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    cfg = tiny_config(snap, tiny_model_dir, batch_size=4096, max_seq_len=512)
    (error,) = validate(cfg, memory_bytes=8 * 2**30)
    assert "lower batch_size to" in error and "raise grad_accum" in error and "gradient_checkpointing" in error
    fit = int(error.split("lower batch_size to ")[1].split()[0])
    assert validate(tiny_config(snap, tiny_model_dir, batch_size=fit, max_seq_len=512), memory_bytes=8 * 2**30) == []


def test_empty_snapshot_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    empty = make_snapshot(tmp_path, snapshot_rows([]).reindex(columns=snapshot_rows(TAUGHT).columns), name="empty")
    errors = validate(tiny_config(empty, tiny_model_dir))
    assert errors == [f"snapshot: the train split of {empty} is empty; pick another snapshot"]
