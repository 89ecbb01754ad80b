"""LLM-judge ratings as a curation operation (AlpaGasus style): a rubric prompt per row, a 1-5 score and a reason
kept as the `judge` signal (variant = rubric), and "reject the rows rated below a threshold" as its decision.

Scoring calls an LLM backend (so it is not CPU-pure, but it reads only the rows and its parameters). The rating job
(`rating_job`, used by `rate run` and the Generate page) is the generic version-aware job with a loaded LLM handed
in: rows rated under the rubric are skipped unless re-rated or edited since, so a cancelled job continues where it
stopped. Rejecting below a score is one undoable action through the same apply path as every operation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from curation import config
from curation.filters import JUDGE_SIGNAL, ExampleFilter
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY, CompletionRequest, complete_all
from curation.generate.llm import LLM, load_for_job, make_llm
from curation.io import chat
from curation.io.export import conversation
from curation.jobs import JobContext, JobFn
from curation.operations import run
from curation.operations.base import Decision, Operation, RowText, Signal, register
from curation.store import Store, signals
from curation.store import ratings as ratings_table
from curation.store.changes import ActionResult

JOB_KIND = "rating"
PLACEHOLDERS = ("{instruction}", "{input}", "{output}", "{conversation}")
DEFAULT_RUBRIC_NAME = "accuracy"
DEFAULT_RUBRIC = """You are rating the quality of one example of an instruction-tuning dataset.

Instruction: {instruction}
Input: {input}
Response: {output}

Rate how accurately and helpfully the response follows the instruction and the input, on a scale of 1 to 5
(5: fully correct and helpful; 1: wrong, unhelpful or unrelated). Answer in exactly this form:
Score: <a number from 1 to 5>
Reason: <one sentence>"""
_SCORE = re.compile(r"score\s*[:=]?\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{(instruction|input|output|conversation)\}")
CONVERSATION_RUBRIC = """You are rating the quality of one conversation of an instruction-tuning dataset.

{conversation}

Rate how accurately and helpfully the assistant answers every user turn (and uses the tools, if any), on a scale of
1 to 5 (5: every reply correct and helpful; 1: wrong, unhelpful or unrelated). Answer in exactly this form:
Score: <a number from 1 to 5>
Reason: <one sentence>"""
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class RatingConfig:
    """A rubric (name and prompt) and the judge's sampling; scores outside [min_score, max_score] are unusable."""

    rubric: str = DEFAULT_RUBRIC_NAME
    prompt: str = DEFAULT_RUBRIC
    min_score: float = 1.0
    max_score: float = 5.0
    max_tokens: int = 128
    temperature: float = 0.0
    rerate: bool = False
    chunk: int = 256

    def __post_init__(self) -> None:
        if not self.rubric.strip():
            raise ValueError("rubric name is empty; give the rubric a short name, e.g. accuracy")
        missing = [p for p in ("{instruction}", "{output}") if p not in self.prompt]
        if missing and "{conversation}" not in self.prompt:
            raise ValueError(
                f"rubric prompt must contain {' and '.join(missing)}, or {{conversation}} for the whole chat "
                f"(placeholders: {', '.join(PLACEHOLDERS)})"
            )
        if self.min_score >= self.max_score:
            raise ValueError(f"min_score must be below max_score; got {self.min_score}, {self.max_score}")


def render(prompt: str, row: dict[str, Any]) -> str:
    """The rubric with the row's fields in place (plain replacement: braces in the text stay as they are);
    {conversation} is every turn of the row (a plain row: its instruction + input and output) as role: text lines."""

    def value(name: str) -> str:
        if name == "conversation":
            turns = conversation({k: "" if v is None or v != v else v for k, v in row.items()})
            return chat.whole_text(turns)
        return str(row.get(name) or "")

    return _PLACEHOLDER.sub(lambda m: value(m.group(1)), prompt)


def parse_rating(text: str, cfg: RatingConfig) -> tuple[float | None, str]:
    """(score, reason) from a judge's answer: "Score: n" or else the first number; None when there is none in range."""
    match = _SCORE.search(text) or _NUMBER.search(text)
    reason = re.split(r"reason\s*:", text, maxsplit=1, flags=re.IGNORECASE)
    reason_text = reason[1].strip() if len(reason) == 2 else text.strip()
    if not match:
        return None, f"no score in the answer: {text.strip()[:200]}"
    score = float(match.group(1) if match.re is _SCORE else match.group(0))
    if not cfg.min_score <= score <= cfg.max_score:
        return None, f"score {score:g} outside {cfg.min_score:g}-{cfg.max_score:g}: {text.strip()[:200]}"
    return score, reason_text


_LLMS: dict[tuple[Any, ...], LLM] = {}  # one loaded model per backend setting, reused across batches


def _config(params: Mapping[str, Any]) -> RatingConfig:
    return RatingConfig(
        rubric=str(params["rubric"]),
        prompt=str(params["prompt"] or DEFAULT_RUBRIC),
        min_score=float(params["min_score"]),
        max_score=float(params["max_score"]),
        max_tokens=int(params["max_tokens"]),
        temperature=float(params["temperature"]),
    )


def _llm(params: Mapping[str, Any]) -> LLM:
    key = tuple(params[k] for k in ("backend", "model", "base_url", "api_key_env", "chat"))
    if key not in _LLMS:
        backend, model, base_url, api_key_env, chat = key
        llm = make_llm(backend, model=model, base_url=base_url, api_key_env=api_key_env, chat=chat)
        if hasattr(llm, "load"):
            llm.load()
        _LLMS[key] = llm
    return _LLMS[key]


class Judge(Operation):
    """The judge; built with an `llm` (and an `on_answer` hook for cancel) it uses that model, else the backend
    named by its parameters."""

    name = JUDGE_SIGNAL
    title = "LLM judge rating"
    description = "An LLM rates each row under a rubric (1-5 with a reason); reject the rows rated below a threshold."
    defaults: ClassVar[Mapping[str, Any]] = {
        "rubric": DEFAULT_RUBRIC_NAME,
        "prompt": "",  # empty: the default rubric prompt
        "backend": "fake",
        "model": None,
        "base_url": None,
        "api_key_env": "OPENAI_API_KEY",
        "chat": False,
        "concurrency": DEFAULT_CONCURRENCY,
        "min_score": 1.0,
        "max_score": 5.0,
        "max_tokens": 128,
        "temperature": 0.0,
        "threshold": 3.0,
    }
    variant_param = "rubric"
    score_range = (1.0, 5.0)

    def __init__(self, llm: LLM | None = None, on_answer: Callable[[], None] | None = None) -> None:
        self.llm = llm
        self.on_answer = on_answer

    def check_params(self, params: Mapping[str, Any]) -> None:
        cfg = _config(params)  # rubric name, placeholders, score range
        if not cfg.min_score <= float(params["threshold"]) <= cfg.max_score:
            raise ValueError(f"threshold must be in [{cfg.min_score:g}, {cfg.max_score:g}]; got {params['threshold']}")
        if int(params["concurrency"]) < 1:
            raise ValueError(f"concurrency must be >= 1; got {params['concurrency']}")

    def score(self, rows: Sequence[RowText], params: Mapping[str, Any]) -> list[Signal]:
        cfg, llm = _config(params), self.llm or _llm(params)
        fields = [
            {"instruction": r.instruction, "input": r.input, "output": r.output, "messages": r.messages} for r in rows
        ]
        requests = [CompletionRequest(render(cfg.prompt, f), cfg.max_tokens, cfg.temperature, 1.0) for f in fields]
        hook = (lambda *_: self.on_answer()) if self.on_answer else None
        answers = complete_all(llm, requests, concurrency=int(params["concurrency"]), on_answer=hook)
        found = []
        for row, answer in zip(rows, answers, strict=True):
            value, reason = parse_rating(answer.text, cfg)
            found.append(Signal(row.id, value, None, {"reason": reason, "model": llm.name, "job_id": None}))
        return found

    def decide(self, signals: Sequence[Signal], params: Mapping[str, Any]) -> list[Decision]:
        threshold = float(params["threshold"])
        reason = f"rating below {threshold:g} ({params['rubric']})"
        low = [s for s in signals if s.score is not None and s.score < threshold]
        return [Decision(s.id, reason, status="rejected") for s in low]


register(Judge())


def _params(cfg: RatingConfig, concurrency: int = DEFAULT_CONCURRENCY, threshold: float | None = None) -> dict:
    return {
        "rubric": cfg.rubric,
        "prompt": cfg.prompt,
        "min_score": cfg.min_score,
        "max_score": cfg.max_score,
        "max_tokens": cfg.max_tokens,
        "temperature": cfg.temperature,
        "concurrency": concurrency,
        **({"threshold": threshold} if threshold is not None else {}),
    }


def rating_job(llm: LLM, cfg: RatingConfig, flt: ExampleFilter, *, concurrency: int = DEFAULT_CONCURRENCY) -> JobFn:
    """A job that rates every row matching `flt` not yet rated under the rubric (or edited since; all with
    `rerate`), with `llm`, in chunks of `cfg.chunk`; cancel is checked after every answer."""
    params = _params(cfg, concurrency)
    Judge().params(params)  # refuse bad settings before the job starts

    def job(ctx: JobContext) -> dict[str, Any]:
        load_for_job(llm, ctx.progress)
        ratings_table.save_rubric(ctx.store, cfg.rubric, cfg.prompt)

        def report(done: int, total: int) -> None:
            ctx.progress(done, total, f"rated {done:,} of {total:,}")

        result = run.score_filtered(
            ctx.store,
            Judge(llm, ctx.check_cancelled),
            params,
            flt,
            rescore=cfg.rerate,
            progress=report,
            author=config.get("author"),
            job_id=ctx.job_id,
            chunk=cfg.chunk,
        )
        rated, unusable = signals.run_counts(ctx.store, result["run_id"])
        ctx.check_cancelled()
        return {"rated": rated, "unusable": unusable, "rubric": cfg.rubric, "rows": result["to_score"]}

    return job


def reject_below(
    store: Store, rubric: str, threshold: float, *, author: str | None = None, flt: ExampleFilter | None = None
) -> ActionResult | None:
    """Reject every row (matching `flt`) rated below `threshold` under `rubric`, as one undoable action (rows
    edited since they were rated are left out: rate them again first)."""
    _, result = run.apply_decisions(
        store, Judge(), {"rubric": rubric, "threshold": float(threshold)}, flt, author=author, kind="rating-reject"
    )
    return result if result.action_id is not None else None


def job_params(cfg: RatingConfig, backend: str, model: str, flt: ExampleFilter, concurrency: int) -> dict[str, Any]:
    return {
        "backend": backend,
        "model": model,
        "rubric": cfg.rubric,
        "filter": flt.to_dict(),
        "concurrency": concurrency,
    }
