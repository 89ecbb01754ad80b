"""Send many completion requests with N in flight, answers in request order, nothing answered sent twice.

`concurrent.futures.ThreadPoolExecutor` does the work (stdlib, well kept; HTTP waits release the GIL); we only
keep the submitted-but-unfinished set bounded to `concurrency`, so a cancel leaves no long queue behind. A backend
with `complete_many` (the local model) gets the requests in batches of `concurrency` per forward pass instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

from curation.generate.llm import LLM, Completion

DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class CompletionRequest:
    """One prompt and its sampling settings; `key` identifies it across restarts."""

    prompt: str
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    tag: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        fields = asdict(self)
        fields.pop("tag")
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()

    def kwargs(self) -> dict:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "presence_penalty": self.presence_penalty,
        }


OnAnswer = Callable[[CompletionRequest, Completion], None]


def complete_all(
    llm: LLM,
    requests: Sequence[CompletionRequest],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    answered: dict[str, Completion] | None = None,
    on_answer: OnAnswer | None = None,
) -> list[Completion]:
    """Answers for `requests` in their order. Already `answered` keys are not sent; each new answer goes to
    `on_answer` (in this thread, so it may write to the store or raise to stop: unsent requests are dropped)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1; got {concurrency}")
    answered = answered if answered is not None else {}
    todo = [r for r in dict.fromkeys(requests) if r.key not in answered]

    def record(request: CompletionRequest, completion: Completion) -> None:
        answered[request.key] = completion
        if on_answer:
            on_answer(request, completion)

    if hasattr(llm, "complete_many"):
        _batched(llm, todo, concurrency, record)
    else:
        _threaded(llm, todo, concurrency, record)
    return [answered[r.key] for r in requests]


def _batched(llm: LLM, todo: list[CompletionRequest], size: int, record: OnAnswer) -> None:
    groups: dict[tuple, list[CompletionRequest]] = {}
    for request in todo:
        groups.setdefault(tuple(sorted((k, str(v)) for k, v in request.kwargs().items())), []).append(request)
    for group in groups.values():
        for start in range(0, len(group), size):
            chunk = group[start : start + size]
            answers = llm.complete_many([r.prompt for r in chunk], **chunk[0].kwargs())  # type: ignore[attr-defined]
            for request, completion in zip(chunk, answers, strict=True):
                record(request, completion)


def _threaded(llm: LLM, todo: list[CompletionRequest], concurrency: int, record: OnAnswer) -> None:
    pending = iter(todo)
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="llm")
    in_flight: dict[Future, CompletionRequest] = {}
    try:
        while True:
            while len(in_flight) < concurrency and (request := next(pending, None)) is not None:
                in_flight[executor.submit(llm.complete, request.prompt, **request.kwargs())] = request
            if not in_flight:
                return
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                record(in_flight.pop(future), future.result())
    finally:
        for future in in_flight:
            future.cancel()
        executor.shutdown(wait=False, cancel_futures=True)
