"""Evol-Instruct style rewriting: make chosen instructions deeper or broader, answer them, land them for review.

Each chosen row gets one rewrite request (a configurable prompt per mode, "#Given Prompt#" / "#Rewritten Prompt#"
as in WizardLM) and then one answer request for the new instruction, N in flight. New rows are pending,
origin generated, with `provenance.method = "evol-instruct"` and `parent_id` naming the row they came from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from curation import config
from curation.filters import ExampleFilter
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY, CompletionRequest, complete_all
from curation.generate.llm import LLM, load_for_job
from curation.jobs import JobContext, JobFn
from curation.store import examples

JOB_KIND = "evol"
_HEAD = "I want you to act as a Prompt Rewriter. Rewrite the given prompt into a more {what} version that a person "
_HEAD += "can still understand and answer. Do not mention '#Given Prompt#' or '#Rewritten Prompt#'. {how}\n\n"
_TAIL = "#Given Prompt#:\n{instruction}\n\n#Rewritten Prompt#:\n"
PROMPTS = {
    "deeper": _HEAD.format(
        what="complex", how="Add one more constraint or requirement, or ask for deeper reasoning; add 10 to 20 words."
    )
    + _TAIL,
    "broader": _HEAD.format(
        what="rare",
        how="Write a brand-new prompt in the same domain as the given one, of similar length and difficulty.",
    )
    + _TAIL,
}
MODES = tuple(PROMPTS)


@dataclass(frozen=True)
class EvolConfig:
    """Which rewrite, its prompt (must contain {instruction}) and the sampling of both requests."""

    mode: str = "deeper"
    prompt: str = field(default="")
    max_tokens: int = 256
    answer_max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if self.prompt and "{instruction}" not in self.prompt:
            raise ValueError("the rewrite prompt must contain {instruction}")

    @property
    def template(self) -> str:
        return self.prompt or PROMPTS[self.mode]


def clean_rewrite(text: str) -> str:
    """The new instruction: the answer without a repeated "#Rewritten Prompt#:" label or surrounding space."""
    return text.replace("#Rewritten Prompt#:", "").strip()


def evol_job(
    llm: LLM,
    cfg: EvolConfig,
    flt: ExampleFilter,
    *,
    backend: str,
    author: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> JobFn:
    """A job that rewrites every row matching `flt` and adds the answered rewrites as pending rows."""

    def job(ctx: JobContext) -> dict[str, Any]:
        load_for_job(llm, ctx.progress)
        parents = examples.fetch(ctx.store, flt, ("id", "instruction", "input"))
        total = 2 * len(parents)
        sent = [0]

        def tick(*_: object) -> None:
            sent[0] += 1
            ctx.progress(sent[0], total, f"{sent[0]:,} of {total:,} requests answered")

        rewrite = [
            CompletionRequest(cfg.template.replace("{instruction}", str(t)), cfg.max_tokens, cfg.temperature, cfg.top_p)
            for t in parents["instruction"]
        ]
        new = [clean_rewrite(a.text) for a in complete_all(llm, rewrite, concurrency=concurrency, on_answer=tick)]
        keep = [i for i, text in enumerate(new) if text]
        answer = [CompletionRequest(new[i], cfg.answer_max_tokens, cfg.temperature, cfg.top_p) for i in keep]
        outputs = complete_all(llm, answer, concurrency=concurrency, on_answer=tick)
        rows = []
        for i, out in zip(keep, outputs, strict=True):
            parent = parents.iloc[i]
            provenance = {"method": "evol-instruct", "mode": cfg.mode, "parent_id": int(parent["id"])}
            provenance |= {"backend": backend, "model": llm.name, "prompt": rewrite[i].prompt, "job_id": ctx.job_id}
            rows.append(
                {
                    "instruction": new[i],
                    "input": "",
                    "output": out.text.strip(),
                    "origin": "generated",
                    "status": "pending",
                    "provenance": provenance,
                    "meta": {"parent_id": int(parent["id"]), "evol_mode": cfg.mode},
                }
            )
        if rows:
            info = examples.SourceInfo(
                name=f"evol-job-{ctx.job_id}",
                format="evol-instruct",
                options={"job_id": ctx.job_id, "backend": backend, "model": llm.name, "config": asdict(cfg)},
                author=author or config.get("author"),
            )
            examples.add_examples(ctx.store, pd.DataFrame(rows), info)
        return {"parents": len(parents), "rows": len(rows), "empty_rewrites": len(parents) - len(keep)} | {
            "source": f"evol-job-{ctx.job_id}"
        }

    return job
