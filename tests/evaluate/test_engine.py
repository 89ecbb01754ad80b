"""The engine's rank classification against an independent transformers computation, on a tiny random Llama."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_support import reference_scores
from finetune_support import one_thread, tiny_model_dir  # noqa: F401

from curation.evaluate import engine
from curation.evaluate.items import EvalItem, load_items

MC_LINES = [
    {"question": "What colour is the sky on a clear day?", "options": ["blue", "green", "plaid"], "answer": "blue"},
    {"question": "2 + 2 = ?", "options": ["3", "4", "five", "a large number of apples"], "answer": 1},
    {"question": "Which is a fruit?\nOptions:\n- apple\n- brick", "options": ["apple", "brick"], "answer": "apple"},
    {"question": "Pick one.", "options": ["yes", "no"], "answer": "no", "slice": "s1"},
]


def _write(tmp_path: Path, lines: list[dict]) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def _check_against_reference(loaded: engine.LoadedModel, items: list[EvalItem], results: list[dict]) -> None:
    for item, result in zip(items, results, strict=True):
        ref = reference_scores(loaded.model, loaded.tokenizer, item.question, list(item.options))
        assert result["option_scores"] == pytest.approx([s for s, _ in ref], abs=1e-4)
        assert result["option_scores_norm"] == pytest.approx([m for _, m in ref], abs=1e-4)
        sums = [s for s, _ in ref]
        assert result["pred"] == sums.index(max(sums))
        assert result["correct"] == (result["pred"] == item.answer_index)


def test_rank_classification_matches_an_independent_forward_pass(tmp_path, tiny_model_dir, one_thread) -> None:  # noqa: F811
    items = load_items(_write(tmp_path, MC_LINES))
    loaded = engine.load_model(str(tiny_model_dir))
    results = engine.evaluate_items(loaded, items)
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[3]["slices"] == {"slice": "s1"}
    _check_against_reference(loaded, items, results)


def test_a_peft_adapter_folder_is_scored_with_its_adapter(tmp_path, tiny_model_dir, one_thread) -> None:  # noqa: F811
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir)
    items = load_items(_write(tmp_path, MC_LINES[:2]))
    tuned = engine.load_model(str(tmp_path / "adapter"))
    results = engine.evaluate_items(tuned, items)
    _check_against_reference(tuned, items, results)
    plain = engine.evaluate_items(engine.load_model(str(tiny_model_dir)), items)
    assert results[0]["option_scores"] != pytest.approx(plain[0]["option_scores"], abs=1e-3)  # the adapter counts


def test_free_form_items_are_generated_greedily_and_matched(tmp_path, tiny_model_dir, one_thread) -> None:  # noqa: F811
    import torch

    items = load_items(_write(tmp_path, [{"question": "Say hi.", "answer": "hi"}, {"question": "Q?", "answer": "7"}]))
    loaded = engine.load_model(str(tiny_model_dir))
    results = engine.evaluate_items(loaded, items, max_new_tokens=6)
    tok = loaded.tokenizer
    for item, result in zip(items, results, strict=True):
        text = tok.apply_chat_template([{"role": "user", "content": item.question}], add_generation_prompt=True,
                                       tokenize=False)  # fmt: skip
        ids = torch.tensor([tok(text, add_special_tokens=False).input_ids])
        out = loaded.model.generate(input_ids=ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
        reply = tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
        assert result["reply"] == reply
        assert result["correct"] == (reply.strip().lower().rstrip(".") == item.answer)
        assert result["option_scores"] == []


def test_model_specs_name_base_runs_and_folders(tmp_path, tiny_model_dir) -> None:  # noqa: F811
    from curation.finetune import runs

    assert engine.resolve_model_spec("base") == ("base", None)
    assert engine.resolve_model_spec("smollm2-135m-instruct") == ("base", None)  # a run's default base_model
    assert engine.resolve_model_spec(str(tiny_model_dir)) == ("merged", tiny_model_dir)
    run = runs.runs_root() / "20260101-000000-raw-abc"
    run.mkdir(parents=True)
    (run / runs.CONFIG).write_text("snapshot: x\n")
    assert engine.resolve_model_spec(run.name) == ("run", run)  # a run name, found under runs_dir


def test_a_model_spec_that_is_nothing_known_is_refused(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not 'base', a run"):
        engine.resolve_model_spec(str(tmp_path / "nowhere"))


@pytest.mark.slow
def test_the_packaged_smollm2_is_scored_like_the_independent_computation(tmp_path, one_thread) -> None:  # noqa: F811
    lines = [
        {"question": "What is the capital of France?", "options": ["Paris", "Berlin", "Madrid"], "answer": "Paris"},
        {"question": "Which animal barks?", "options": ["cat", "dog", "fish"], "answer": "dog"},
    ]
    items = load_items(_write(tmp_path, lines))
    loaded = engine.load_model("base")
    results = engine.evaluate_items(loaded, items)
    _check_against_reference(loaded, items, results)
    assert results[0]["pred"] == 0  # the real model knows this one
