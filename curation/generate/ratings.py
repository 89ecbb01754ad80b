"""LLM-judge quality ratings (AlpaGasus style): a rubric prompt per row, a score and a reason stored per rubric.

The job runs on any backend with N requests in flight; rows already rated under the rubric are skipped, so a
cancelled job continues where it stopped. Rejecting the rows below a score is one undoable review action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from curation import config
from curation.filters import ExampleFilter
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY, CompletionRequest, complete_all
from curation.generate.llm import LLM
from curation.io import chat
from curation.io.export import conversation
from curation.jobs import JobContext, JobFn
from curation.store import Store, examples, revisions
from curation.store import ratings as ratings_table

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


def rating_job(llm: LLM, cfg: RatingConfig, flt: ExampleFilter, *, concurrency: int = DEFAULT_CONCURRENCY) -> JobFn:
    """A job that rates every row matching `flt` (not yet rated under the rubric, unless `rerate`)."""

    def job(ctx: JobContext) -> dict[str, Any]:
        if hasattr(llm, "load"):
            ctx.progress(0, 1, llm.loading_message())  # type: ignore[attr-defined]
            llm.load()  # type: ignore[attr-defined]
        store = ctx.store
        ratings_table.save_rubric(store, cfg.rubric, cfg.prompt)
        ids = examples_ids(store, flt) if cfg.rerate else ratings_table.unrated_ids(store, cfg.rubric, flt)
        done = {"rated": 0, "unusable": 0}
        for start in range(0, len(ids), cfg.chunk):
            rows = examples.fetch(store, ExampleFilter(ids=ids[start : start + cfg.chunk]))
            requests = [
                CompletionRequest(render(cfg.prompt, r), cfg.max_tokens, cfg.temperature, 1.0)
                for r in rows.to_dict("records")
            ]
            answers = complete_all(
                llm, requests, concurrency=concurrency, on_answer=lambda *_, at=start: ctx.progress(at, len(ids))
            )
            scored = [(int(i), *parse_rating(a.text, cfg)) for i, a in zip(rows["id"], answers, strict=True)]
            ratings_table.save_ratings(store, cfg.rubric, scored, llm.name, ctx.job_id)
            done["rated"] += sum(1 for _, s, _ in scored if s is not None)
            done["unusable"] += sum(1 for _, s, _ in scored if s is None)
            ctx.progress(start + len(rows), len(ids), f"rated {start + len(rows):,} of {len(ids):,}")
        return done | {"rubric": cfg.rubric, "rows": len(ids)}

    return job


def examples_ids(store: Store, flt: ExampleFilter) -> list[int]:
    return [int(i) for i in examples.fetch(store, flt, ("id",))["id"]]


def reject_below(
    store: Store, rubric: str, threshold: float, *, author: str | None = None, flt: ExampleFilter | None = None
) -> revisions.ActionResult | None:
    """Reject every row (matching `flt`) rated below `threshold` under `rubric`, as one undoable action."""
    ids = ratings_table.ids_below(store, rubric, threshold, flt)
    if not ids:
        return None
    return revisions.set_status(
        store,
        "rejected",
        author=author or config.get("author"),
        ids=ids,
        reason=f"rating below {threshold:g} ({rubric})",
        kind="rating-reject",
        description=f"rejected {len(ids)} rows rated below {threshold:g} under rubric {rubric!r}",
        params={"rubric": rubric, "threshold": float(threshold)},
    )


def job_params(cfg: RatingConfig, backend: str, model: str, flt: ExampleFilter, concurrency: int) -> dict[str, Any]:
    return {
        "backend": backend,
        "model": model,
        "rubric": cfg.rubric,
        "filter": flt.to_dict(),
        "concurrency": concurrency,
    }
