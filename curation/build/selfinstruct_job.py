"""The Self-Instruct generation job: prompt a model, filter its tasks, land accepted ones as pending rows.

Every candidate either becomes rows (origin=generated, status=pending, full provenance) or a recorded drop
with its reason in `generation_drops`. Cancelling keeps everything accepted so far.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict
from typing import Any

import pandas as pd

from curation import config
from curation.build import selfinstruct as si
from curation.build.llm import LLM
from curation.dedup.rouge import RougeIndex
from curation.jobs import JobCancelled, JobContext, JobFn
from curation.store import Store, examples
from curation.store import templates as drops_table

JOB_KIND = "selfinstruct"
SOURCE_FORMAT = "selfinstruct"


class SelfInstructRun:
    """State of one run: the pool, the ROUGE-L index over every pool instruction, counts and unsaved rows."""

    def __init__(self, store: Store, llm: LLM, cfg: si.GenerationConfig, *, job_id: int, backend: str, author: str):
        self.store, self.llm, self.cfg = store, llm, cfg
        self.job_id, self.backend, self.author = job_id, backend, author
        self.pool = si.load_pool(store)
        self.texts = self.pool.instructions()
        self.index = RougeIndex(self.texts)
        self.rng = random.Random(cfg.seed)
        self.kept = 0
        self.prompts = 0
        self.rows_written = 0
        self.dropped: Counter[str] = Counter()
        self.seen: set[str] = set()  # every candidate this run already judged (small models repeat themselves)
        self.pending_rows: list[dict[str, Any]] = []
        self.pending_drops: list[dict[str, Any]] = []

    # -- the loop --------------------------------------------------------------------------------
    def run(self, ctx: JobContext) -> dict[str, Any]:
        """Send prompts until n instructions are kept or the prompt budget is spent."""
        cancelled = False
        try:
            while self.kept < self.cfg.n_instructions and self.prompts < self.cfg.prompt_budget:
                self.one_prompt(ctx)
                ctx.progress(self.kept, self.cfg.n_instructions, self.message())
        except JobCancelled:
            cancelled = True
        finally:
            self.flush()
        return self.result(cancelled)

    def one_prompt(self, ctx: JobContext) -> None:
        shown = si.sample_prompt_tasks(self.pool, self.rng, self.cfg)
        prompt = si.instruction_prompt(shown)
        completion = self.llm.complete(
            prompt,
            max_tokens=self.cfg.max_tokens,
            temperature=self.cfg.temperature,
            top_p=self.cfg.top_p,
            stop=si.list_stops(self.cfg),
        )
        self.prompts += 1
        items = si.parse_task_list(completion.text, len(shown) + 1, self.cfg.item_limit)
        if completion.truncated and items:
            self.drop("instruction", "truncated", items.pop(), detail={"finish_reason": completion.finish_reason})
        for position, item in enumerate(items):
            if self.kept >= self.cfg.n_instructions:
                for rest in items[position:]:
                    rule = si.instruction_drop_reason(rest, self.cfg) or ("not_needed", f"{self.kept} already kept")
                    self.drop("instruction", rule[0], rest, detail={"rule": rule[1]})
                break
            self.consider(item, shown, prompt)
            ctx.progress(self.kept, self.cfg.n_instructions, self.message())

    def consider(self, instruction: str, shown: list[si.PoolTask], prompt: str) -> None:
        """Filter one candidate; accepted ones get instances and join the pool."""
        if rule := si.instruction_drop_reason(instruction, self.cfg):
            self.drop("instruction", rule[0], instruction, detail={"rule": rule[1]})
            return
        if instruction.lower() in self.seen:
            self.drop("instruction", "repeated", instruction, detail={"rule": "already judged in this run"})
            return
        self.seen.add(instruction.lower())
        similar = [(self.texts[i], round(float(s), 4)) for i, s in self.index.most_similar(instruction, k=10)]
        max_score = max((s for _, s in similar), default=0.0)
        if max_score > self.cfg.rouge_threshold:
            detail = {"max_rouge_l": max_score, "most_similar": similar[:3], "threshold": self.cfg.rouge_threshold}
            self.drop("instruction", "rouge_similar", instruction, detail=detail)
            return
        is_cls, answer = self.classify(instruction)
        pairs = self.instances(instruction, is_cls)
        if not pairs:
            self.drop("instruction", "no_valid_instances", instruction, detail={"is_classification": is_cls})
            return
        self.accept(instruction, pairs, shown, prompt, similar, max_score, is_cls, answer)

    def classify(self, instruction: str) -> tuple[bool, str]:
        reply = self.llm.complete(si.classification_prompt(instruction), max_tokens=3, temperature=0.0, top_p=1.0)
        return bool(si.parse_yes_no(reply.text)), reply.text.strip()

    def instances(self, instruction: str, is_cls: bool) -> list[tuple[str, str]]:
        """Generate instances (output-first for classification) and keep those passing the filters."""
        prompt = si.output_first_prompt(instruction) if is_cls else si.input_first_prompt(instruction)
        reply = self.llm.complete(
            prompt,
            max_tokens=self.cfg.instance_max_tokens,
            temperature=self.cfg.instance_temperature,
            top_p=self.cfg.instance_top_p,
            stop=si.INSTANCE_STOPS,
        )
        pairs = si.parse_output_first(reply.text) if is_cls else si.parse_input_first(reply.text)
        if reply.truncated and pairs:
            inp, out = pairs.pop()
            self.drop("instance", "truncated", instruction, inp, out)
        kept, dropped = si.filter_instances(pairs, self.cfg.max_instances)
        for (inp, out), reason in dropped:
            self.drop("instance", reason, instruction, inp, out)
        return kept

    # -- outcomes --------------------------------------------------------------------------------
    def accept(
        self,
        instruction: str,
        pairs: list[tuple[str, str]],
        shown: list[si.PoolTask],
        prompt: str,
        similar: list[tuple[str, float]],
        max_score: float,
        is_cls: bool,
        answer: str,
    ) -> None:
        self.index.add(instruction)
        self.texts.append(instruction)
        self.pool.machine.append(si.PoolTask(None, instruction, "machine"))
        self.kept += 1
        provenance = {
            "job_id": self.job_id,
            "backend": self.backend,
            "model": self.llm.name,
            "prompt": prompt,
            "prompt_tasks": [asdict(t) for t in shown],
            "seed_ids": [t.example_id for t in shown if t.kind == "seed"],
            "max_rouge_l": max_score,
            "similar": [{"instruction": text, "score": score} for text, score in similar],
            "is_classification": is_cls,
            "classification_answer": answer,
            "instance_order": "output-first" if is_cls else "input-first",
            "sampling": {"temperature": self.cfg.temperature, "top_p": self.cfg.top_p, "seed": self.cfg.seed},
        }
        for number, (inp, out) in enumerate(pairs):
            self.pending_rows.append(
                {
                    "instruction": instruction,
                    "input": inp,
                    "output": out,
                    "origin": "generated",
                    "status": "pending",
                    "is_classification": is_cls,
                    "provenance": provenance,
                    "meta": {"task_number": self.kept, "instance_index": number},
                }
            )
        if self.kept % self.cfg.flush_every == 0:
            self.flush()

    def drop(
        self,
        stage: str,
        reason: str,
        instruction: str,
        inp: str | None = None,
        out: str | None = None,
        *,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Count and record a dropped candidate (an instruction or one instance of it)."""
        self.dropped[f"{stage}:{reason}" if stage == "instance" else reason] += 1
        drop = {"stage": stage, "reason": reason, "instruction": instruction, "input": inp, "output": out}
        self.pending_drops.append(drop | {"detail": detail})

    def flush(self) -> None:
        """Write accepted rows (as one more part of this run's source) and recorded drops."""
        if self.pending_rows:
            info = examples.SourceInfo(
                name=f"selfinstruct-job-{self.job_id}",
                format=SOURCE_FORMAT,
                options={"job_id": self.job_id, "backend": self.backend, "model": self.llm.name}
                | {"config": asdict(self.cfg)},
                author=self.author,
            )
            frame = pd.DataFrame(self.pending_rows)
            frame["source_row"] = range(self.rows_written, self.rows_written + len(frame))
            examples.add_examples(self.store, frame, info)
            self.rows_written += len(frame)
            self.pending_rows = []
        drops_table.add_drops(self.store, self.job_id, self.pending_drops)
        self.pending_drops = []

    def message(self) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in self.dropped.most_common())
        total = sum(self.dropped.values())
        return f"prompts {self.prompts} · kept {self.kept}/{self.cfg.n_instructions} · dropped {total}" + (
            f" ({reasons})" if reasons else ""
        )

    def result(self, cancelled: bool) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "rows": self.rows_written,
            "prompts": self.prompts,
            "dropped": dict(self.dropped),
            "source": f"selfinstruct-job-{self.job_id}",
            "cancelled": cancelled,
            "budget_spent": self.kept < self.cfg.n_instructions and self.prompts >= self.cfg.prompt_budget,
        }


def generation_job(llm: LLM, cfg: si.GenerationConfig, *, backend: str, author: str | None = None) -> JobFn:
    """A job function for JobRunner.run/submit that runs Self-Instruct with `llm`."""

    def job(ctx: JobContext) -> dict[str, Any]:
        run = SelfInstructRun(
            ctx.store, llm, cfg, job_id=ctx.job_id, backend=backend, author=author or config.get("author")
        )
        ctx.progress(0, cfg.n_instructions, "loading the pool")
        return run.run(ctx)

    return job


def job_params(cfg: si.GenerationConfig, backend: str, model: str) -> dict[str, Any]:
    """What a job row records about the run (never an API key)."""
    return {"backend": backend, "model": model, "config": asdict(cfg)}
