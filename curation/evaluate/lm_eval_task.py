"""Standard benchmarks through lm-evaluation-harness (the optional `lm-eval` extra) on a local task folder.

The model is loaded here (base, a run's adapter on its base, or a merged folder) and handed to lm-eval's HF
wrapper, so nothing is fetched from a hub; the task YAML must read local data (e.g. `dataset_path: json` with
`dataset_kwargs: {data_files: {test: /abs/path.jsonl}}`). Only the given folder's tasks are indexed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curation.evaluate import engine

INSTALL = "lm-eval is an optional extra: pip install 'lm_eval==0.4.13' (see README, Evaluation)"


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("lm_eval") is not None


def run_task(
    spec: str, tasks_dir: Path, task: str, limit: int | None = None, batch_size: int = 1,
    apply_chat_template: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """lm-eval's metrics for one task of a local task folder, e.g. {'acc,none': 0.5, 'acc_stderr,none': ...}."""
    if not available():
        raise ValueError(INSTALL)
    tasks_dir = Path(tasks_dir)
    if not tasks_dir.is_dir():
        raise FileNotFoundError(f"tasks dir {tasks_dir} is not a folder of lm-eval task YAML files")
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    loaded = engine.load_model(spec)
    manager = TaskManager(include_path=str(tasks_dir), include_defaults=False)
    if task not in manager.all_tasks:
        known = ", ".join(sorted(manager.all_tasks)[:10]) or "none"
        raise ValueError(f"task {task!r} is not defined in {tasks_dir}; found: {known}")
    weights = loaded.model
    if hasattr(weights, "merge_and_unload"):  # a run's adapter: lm-eval's HF wrapper takes a plain transformers model
        weights = weights.merge_and_unload()
    model = HFLM(pretrained=weights, tokenizer=loaded.tokenizer, batch_size=batch_size, device=str(weights.device))
    out = lm_eval.simple_evaluate(
        model=model, tasks=[task], task_manager=manager, limit=limit, log_samples=False,
        apply_chat_template=apply_chat_template, bootstrap_iters=1000,
    )  # fmt: skip
    return {k: v for k, v in out["results"][task].items() if k != "alias"}
