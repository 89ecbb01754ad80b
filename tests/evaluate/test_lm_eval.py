"""lm-evaluation-harness on a tiny local task (skipped when the optional lm-eval extra is not installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finetune_support import one_thread, tiny_model_dir  # noqa: F401
from typer.testing import CliRunner

from curation.cli import app

pytest.importorskip("lm_eval")

ITEMS = [
    {"question": "Is fire hot?", "options": ["yes", "no"], "answer": 0},
    {"question": "Which is a colour?", "options": ["red", "table", "seven"], "answer": 0},
    {"question": "Pick the odd one.", "options": ["cat", "dog", "car"], "answer": 2},
    {"question": "Which one flies?", "options": ["stone", "bird"], "answer": 1},
]


def _task_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir()
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in ITEMS), encoding="utf-8")
    (folder / "tiny.yaml").write_text(
        "task: tiny_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {data}\ntest_split: test\noutput_type: multiple_choice\n"
        'doc_to_text: "{{question}}\\nAnswer:"\ndoc_to_choice: "{{options}}"\ndoc_to_target: "{{answer}}"\n'
        "metric_list:\n  - metric: acc\n",
        encoding="utf-8",
    )
    return folder


def _independent_accuracy(model_dir: Path) -> float:
    """lm-eval's 'acc': argmax of summed log-probs of ' choice' after 'question\\nAnswer:' (plain forward passes)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    right = 0
    for item in ITEMS:
        context = tok(f"{item['question']}\nAnswer:").input_ids
        scores = []
        for option in item["options"]:
            full = tok(f"{item['question']}\nAnswer: {option}").input_ids
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=torch.tensor([full])).logits[0].float(), dim=-1)
            cont = full[len(context) :]
            scores.append(sum(float(logp[len(context) - 1 + t, c]) for t, c in enumerate(cont)))
        right += scores.index(max(scores)) == item["answer"]
    return right / len(ITEMS)


def test_lm_eval_runs_a_local_task_on_a_local_model(tmp_path, tiny_model_dir, one_thread, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    args = ["eval", "lm-eval", "--model", str(tiny_model_dir), "--tasks-dir", str(_task_dir(tmp_path))]
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "db.duckdb"), *args, "--task", "tiny_mc", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout[result.stdout.index("{") :])
    assert metrics["sample_len"] == 4
    assert metrics["acc,none"] == pytest.approx(_independent_accuracy(tiny_model_dir))


def test_an_unknown_task_is_named(tmp_path, tiny_model_dir) -> None:  # noqa: F811
    args = ["eval", "lm-eval", "--model", str(tiny_model_dir), "--tasks-dir", str(_task_dir(tmp_path))]
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "db.duckdb"), *args, "--task", "nope"])
    assert result.exit_code == 1
    assert "task 'nope' is not defined in" in result.stderr
