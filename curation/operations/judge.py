"""LLM-judge ratings as an operation: score = the judge's 1-5 rating under a rubric (the variant), evidence = its
reason; decide = reject the rows rated below a threshold.

Scoring calls the chosen LLM backend (so it is not CPU-pure, but it reads only the rows and its parameters); the
rubric prompt, answer parsing and backends are the ones `curation.generate.ratings` uses, and results land in the
same `judge` signal that `rate run` writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from curation.filters import JUDGE_SIGNAL
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY, CompletionRequest, complete_all
from curation.generate.llm import LLM, make_llm
from curation.generate.ratings import DEFAULT_RUBRIC, DEFAULT_RUBRIC_NAME, RatingConfig, parse_rating, render
from curation.operations.base import Decision, Operation, RowText, Signal, register

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

    def check_params(self, params: Mapping[str, Any]) -> None:
        cfg = _config(params)  # rubric name, placeholders, score range
        if not cfg.min_score <= float(params["threshold"]) <= cfg.max_score:
            raise ValueError(f"threshold must be in [{cfg.min_score:g}, {cfg.max_score:g}]; got {params['threshold']}")
        if int(params["concurrency"]) < 1:
            raise ValueError(f"concurrency must be >= 1; got {params['concurrency']}")

    def score(self, rows: Sequence[RowText], params: Mapping[str, Any]) -> list[Signal]:
        cfg, llm = _config(params), _llm(params)
        fields = [{"instruction": r.instruction, "input": r.input, "output": r.output} for r in rows]
        requests = [CompletionRequest(render(cfg.prompt, f), cfg.max_tokens, cfg.temperature, 1.0) for f in fields]
        answers = complete_all(llm, requests, concurrency=int(params["concurrency"]))
        found = []
        for row, answer in zip(rows, answers, strict=True):
            value, reason = parse_rating(answer.text, cfg)
            found.append(Signal(row.id, value, None, {"reason": reason, "model": llm.name, "job_id": None}))
        return found

    def decide(self, signals: Sequence[Signal], params: Mapping[str, Any]) -> list[Decision]:
        threshold = float(params["threshold"])
        reason = f"rating below {threshold:g} ({params['rubric']})"
        return [
            Decision(s.id, reason, status="rejected") for s in signals if s.score is not None and s.score < threshold
        ]


register(Judge())
