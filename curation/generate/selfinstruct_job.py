"""The Self-Instruct generation job: prompt a model, filter its tasks, land accepted ones as pending rows.

A run goes in rounds, as the original's request batches: `prompt_batch` prompts drawn from the pool as it stood
when the round began are sent together (N in flight), then their candidates are judged one at a time in prompt
order, then classification and instance requests for the survivors are sent together. Decisions therefore never
depend on the concurrency. Every answer is recorded as it arrives, and each round ends with one transaction that
writes its rows, its drops and a checkpoint, so a cancelled, crashed or restarted run resumes with the pool as it
was without re-sending what was already answered.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict
from typing import Any

import pandas as pd

from curation import config
from curation.dedup.rouge import RougeIndex
from curation.generate import selfinstruct as si
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY, CompletionRequest, complete_all
from curation.generate.llm import LLM, Completion
from curation.jobs import JobCancelled, JobContext, JobFn
from curation.store import Store, examples, generation_runs, jobs_table
from curation.store import templates as drops_table

JOB_KIND = "selfinstruct"
SOURCE_FORMAT = "selfinstruct"


class SelfInstructRun:
    """State of one run: the pool, the ROUGE-L index over every pool instruction, counts and unsaved rows."""

    def __init__(
        self,
        store: Store,
        llm: LLM,
        cfg: si.GenerationConfig,
        *,
        run_id: int,
        backend: str,
        author: str,
        concurrency: int = DEFAULT_CONCURRENCY,
        cost_per_1k: float | None = None,
    ):
        self.store, self.llm, self.cfg = store, llm, cfg
        self.run_id, self.backend, self.author = run_id, backend, author
        self.concurrency, self.cost_per_1k = concurrency, cost_per_1k
        self.rng = random.Random(cfg.seed)
        self.kept = self.prompts = self.rows_written = self.rounds = 0
        self.dropped: Counter[str] = Counter()
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self.seen: set[str] = set()  # every candidate this run already judged (small models repeat themselves)
        self.pending_rows: list[dict[str, Any]] = []
        self.pending_drops: list[dict[str, Any]] = []
        self.answered: dict[str, Completion] = {}
        checkpoint = generation_runs.load_checkpoint(store, run_id)
        if checkpoint:
            self.restore(checkpoint)
        else:
            self.pool = si.load_pool(store)
            self.texts = self.pool.instructions()
        self.index = RougeIndex(self.texts)
        for key, (text, reason, p, c) in generation_runs.load_responses(store, run_id).items():
            self.answered[key] = Completion(text, reason, p, c)
        self._ctx: JobContext | None = None

    # -- the loop --------------------------------------------------------------------------------
    def run(self, ctx: JobContext) -> dict[str, Any]:
        """Send rounds of prompts until n instructions are kept or the prompt budget is spent."""
        self._ctx = ctx
        cancelled = False
        try:
            while self.kept < self.cfg.n_instructions and self.prompts < self.cfg.prompt_budget:
                self.one_round()
                self.checkpoint()
                ctx.progress(self.kept, self.cfg.n_instructions, self.message())
        except JobCancelled:
            # The unfinished round is redone on resume from its recorded answers; the last checkpoint stays.
            cancelled = True
            self.pending_rows, self.pending_drops = [], []
            self.rewind()
        else:
            self.checkpoint(finished=True)
        return self.result(cancelled)

    def send(self, requests: list[CompletionRequest]) -> list[Completion]:
        """Answers in request order, N in flight; each new answer is recorded at once (resume never re-sends it)."""
        return complete_all(
            self.llm, requests, concurrency=self.concurrency, answered=self.answered, on_answer=self.record_answer
        )

    def record_answer(self, request: CompletionRequest, completion: Completion) -> None:
        usage = (completion.prompt_tokens, completion.completion_tokens)
        generation_runs.save_response(
            self.store, self.run_id, request.key, completion.text, completion.finish_reason, usage
        )
        self.usage["requests"] += 1
        self.usage["prompt_tokens"] += usage[0]
        self.usage["completion_tokens"] += usage[1]
        if self._ctx:
            self._ctx.progress(self.kept, self.cfg.n_instructions, self.message())

    def one_round(self) -> None:
        count = min(self.cfg.prompt_batch, self.cfg.prompt_budget - self.prompts)
        shown = [si.sample_prompt_tasks(self.pool, self.rng, self.cfg) for _ in range(count)]
        prompts = [si.instruction_prompt(tasks) for tasks in shown]
        stops = tuple(si.list_stops(self.cfg))
        sampling = (self.cfg.max_tokens, self.cfg.temperature, self.cfg.top_p, stops, self.cfg.presence_penalty)
        answers = self.send([CompletionRequest(p, *sampling) for p in prompts])
        self.prompts += count
        self.rounds += 1
        candidates = []
        for tasks, prompt, completion in zip(shown, prompts, answers, strict=True):
            items = [
                si.normalise_instruction(t, self.cfg)
                for t in si.parse_task_list(completion.text, len(tasks) + 1, self.cfg.item_limit)
            ]
            if completion.truncated and items:
                cut = items if not self.cfg.keep_truncated_prefix else items[-1:]
                for item in cut:
                    self.drop("instruction", "truncated", item, detail={"finish_reason": completion.finish_reason})
                items = items[: len(items) - len(cut)]
            for item in items:
                if judged := self.judge(item, len(candidates)):
                    candidates.append((item, tasks, prompt, *judged))
        self.add_instances(candidates)

    def judge(self, instruction: str, waiting: int) -> tuple[list[tuple[str, float]], float] | None:
        """Filter one candidate against the rules and the pool; a survivor joins the ROUGE-L pool at once."""
        if rule := si.instruction_drop_reason(instruction, self.cfg):
            self.drop("instruction", rule[0], instruction, detail={"rule": rule[1]})
            return None
        if instruction.lower() in self.seen:
            self.drop("instruction", "repeated", instruction, detail={"rule": "already judged in this run"})
            return None
        if self.kept + waiting >= self.cfg.n_instructions:
            self.drop("instruction", "not_needed", instruction, detail={"rule": f"{self.kept + waiting} already kept"})
            return None
        self.seen.add(instruction.lower())
        similar = [(self.texts[i], float(s)) for i, s in self.index.most_similar(instruction, k=10)]
        max_score = max((s for _, s in similar), default=0.0)
        if max_score > self.cfg.rouge_threshold:  # the exact rouge-score float, as the original compares it
            detail = {"max_rouge_l": max_score, "most_similar": similar[:3], "threshold": self.cfg.rouge_threshold}
            self.drop("instruction", "rouge_similar", instruction, detail=detail)
            return None
        self.index.add(instruction)
        self.texts.append(instruction)
        self.pool.machine.append(si.PoolTask(None, instruction, "machine"))
        return similar, max_score

    def add_instances(self, candidates: list[tuple]) -> None:
        """Classify every survivor, generate its instances (output-first for classification), keep or drop it."""
        cls_requests = [CompletionRequest(si.classification_prompt(c[0]), 3, 0.0, 1.0) for c in candidates]
        cls_replies = self.send(cls_requests)
        answers = [si.parse_yes_no(a.text) for a in cls_replies]
        inst_requests = [
            CompletionRequest(
                si.output_first_prompt(c[0]) if is_cls else si.input_first_prompt(c[0]),
                self.cfg.instance_max_tokens,
                self.cfg.instance_temperature,
                self.cfg.instance_top_p,
                si.INSTANCE_STOPS,
                self.cfg.instance_presence_penalty,
            )
            for c, is_cls in zip(candidates, answers, strict=True)
        ]
        replies = self.send(inst_requests)
        for cand, is_cls, cls_reply, reply in zip(candidates, answers, cls_replies, replies, strict=True):
            pairs = self.instances(cand[0], bool(is_cls), reply)
            if pairs:
                self.accept(*cand, pairs=pairs, is_cls=bool(is_cls), answer=cls_reply.text.strip())
            else:
                self.drop("instruction", "no_valid_instances", cand[0], detail={"is_classification": bool(is_cls)})

    def instances(self, instruction: str, is_cls: bool, reply: Completion) -> list[tuple[str, str]]:
        pairs = si.parse_output_first(reply.text) if is_cls else si.parse_input_first(reply.text)
        if reply.truncated and pairs:
            inp, out = pairs.pop()
            self.drop("instance", "truncated", instruction, inp, out)
        rng = random.Random(f"{self.cfg.seed}:{instruction}") if self.cfg.instance_sampling == "random" else None
        kept, dropped = si.filter_instances(pairs, self.cfg.max_instances, rng)
        for (inp, out), reason in dropped:
            self.drop("instance", reason, instruction, inp, out)
        return kept

    # -- outcomes --------------------------------------------------------------------------------
    def accept(
        self,
        instruction: str,
        shown: list[si.PoolTask],
        prompt: str,
        similar: list[tuple[str, float]],
        max_score: float,
        *,
        pairs: list[tuple[str, str]],
        is_cls: bool,
        answer: str,
    ) -> None:
        self.kept += 1
        provenance = {
            "job_id": self.run_id,
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

    def checkpoint(self, finished: bool = False) -> None:
        """One transaction: the round's rows (one more part of this run's source), its drops and the state."""
        with self.store.transaction():
            if self.pending_rows:
                info = examples.SourceInfo(
                    name=f"selfinstruct-job-{self.run_id}",
                    format=SOURCE_FORMAT,
                    options={"job_id": self.run_id, "backend": self.backend, "model": self.llm.name}
                    | {"config": asdict(self.cfg)},
                    author=self.author,
                )
                frame = pd.DataFrame(self.pending_rows)
                frame["source_row"] = range(self.rows_written, self.rows_written + len(frame))
                examples.add_examples(self.store, frame, info)
                self.rows_written += len(frame)
            drops_table.add_drops(self.store, self.run_id, self.pending_drops)
            generation_runs.save_checkpoint(self.store, self.run_id, self.state(finished))
        self.pending_rows, self.pending_drops = [], []

    def state(self, finished: bool) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {
            "finished": finished,
            "rounds": self.rounds,
            "prompts": self.prompts,
            "kept": self.kept,
            "rows_written": self.rows_written,
            "dropped": dict(self.dropped),
            "usage": self.usage,
            "seen": sorted(self.seen),
            "texts": self.texts,
            "seeds": [[t.example_id, t.instruction] for t in self.pool.seeds],
            "machine": [[t.example_id, t.instruction] for t in self.pool.machine],
            "rng": [version, list(internal), gauss],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.rounds, self.prompts, self.kept = state["rounds"], state["prompts"], state["kept"]
        self.rows_written, self.dropped = state["rows_written"], Counter(state["dropped"])
        self.usage, self.seen, self.texts = state["usage"], set(state["seen"]), list(state["texts"])
        self.pool = si.Pool(
            [si.PoolTask(i, t, "seed") for i, t in state["seeds"]],
            [si.PoolTask(i, t, "machine") for i, t in state["machine"]],
        )
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))

    def rewind(self) -> None:
        """Counts back to the last checkpoint (what the store holds); usage keeps every request really sent."""
        usage, state = dict(self.usage), generation_runs.load_checkpoint(self.store, self.run_id)
        if state:
            self.restore(state)
        else:
            self.kept = self.prompts = self.rows_written = self.rounds = 0
            self.dropped.clear()
        self.usage = usage

    def message(self) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in self.dropped.most_common())
        total = sum(self.dropped.values())
        return f"prompts {self.prompts} · kept {self.kept}/{self.cfg.n_instructions} · dropped {total}" + (
            f" ({reasons})" if reasons else ""
        )

    def result(self, cancelled: bool) -> dict[str, Any]:
        tokens = self.usage["prompt_tokens"] + self.usage["completion_tokens"]
        return {
            "kept": self.kept,
            "rows": self.rows_written,
            "prompts": self.prompts,
            "dropped": dict(self.dropped),
            "source": f"selfinstruct-job-{self.run_id}",
            "run_id": self.run_id,
            "cancelled": cancelled,
            "budget_spent": self.kept < self.cfg.n_instructions and self.prompts >= self.cfg.prompt_budget,
            "usage": dict(self.usage),
            "cost": round(tokens / 1000 * self.cost_per_1k, 6) if self.cost_per_1k is not None else None,
        }


def generation_job(
    llm: LLM,
    cfg: si.GenerationConfig,
    *,
    backend: str,
    author: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    cost_per_1k: float | None = None,
    resume_of: int | None = None,
) -> JobFn:
    """A job function for JobRunner.run/submit that runs (or, with `resume_of`, continues) Self-Instruct."""

    def job(ctx: JobContext) -> dict[str, Any]:
        if hasattr(llm, "load"):
            ctx.progress(0, cfg.n_instructions, llm.loading_message())  # type: ignore[attr-defined]
            llm.load()  # type: ignore[attr-defined]
        ctx.progress(0, cfg.n_instructions, "loading the pool")
        run = SelfInstructRun(
            ctx.store,
            llm,
            cfg,
            run_id=resume_of or ctx.job_id,
            backend=backend,
            author=author or config.get("author"),
            concurrency=concurrency,
            cost_per_1k=cost_per_1k,
        )
        return run.run(ctx)

    return job


def job_params(
    cfg: si.GenerationConfig, backend: str, model: str, options: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """What a job row records about the run: settings and backend options (a key's variable name, never a key)."""
    safe = {k: v for k, v in (options or {}).items() if "key" not in k or k == "api_key_env"}
    return {"backend": backend, "model": model, "config": asdict(cfg), "options": safe} | extra


def resumable_run(store: Store, run_id: int) -> tuple[dict[str, Any], si.GenerationConfig]:
    """The first job row and config of a run that can go on; ValueError saying why not otherwise."""
    job = jobs_table.get(store, run_id)
    if job is None or job["kind"] != JOB_KIND:
        raise ValueError(f"there is no generation run #{run_id}; see `python -m curation jobs list`")
    params = job["params"] or {}
    run_id = int(params.get("resume_of") or run_id)
    first = jobs_table.get(store, run_id) or job
    state = generation_runs.load_checkpoint(store, run_id)
    if state and state["finished"]:
        raise ValueError(f"run #{run_id} already finished ({state['kept']} kept); start a new run instead")
    active = jobs_table.list_jobs(store, [JOB_KIND], 200)
    if any(s in ("queued", "running") for s in active["status"]):
        raise ValueError("a generation job is running; wait for it or cancel it first")
    cfg_fields = dict((first["params"] or {})["config"])
    cfg_fields["blacklist"] = tuple(cfg_fields["blacklist"])
    return first, si.GenerationConfig(**cfg_fields)
