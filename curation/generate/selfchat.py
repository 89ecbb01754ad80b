"""Self-chat (Baize / UltraChat style): a seed instruction opens a conversation, an assistant answers, a user
simulator asks the next question, for N exchanges; the conversations land as pending rows for review.

Both roles go through the same backend, one request per conversation per step, N in flight. The transcript is
rendered as plain "User:" / "Assistant:" lines (works with completion and chat endpoints alike). A conversation
stops early, keeping the exchanges it has, when the simulated user says nothing new (empty, or a question it
already asked) or the assistant's answer is empty; the counts of each reason are in the job result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from curation import config
from curation.filters import ExampleFilter
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY, CompletionRequest, complete_all
from curation.generate.llm import LLM, load_for_job
from curation.io import chat
from curation.jobs import JobContext, JobFn
from curation.store import examples

JOB_KIND = "self-chat"
USER_PROMPT = (
    "Below is a conversation between a curious user and an AI assistant. Write the user's next message: a natural "
    "follow-up question or request that builds on the conversation. Write only the message.\n\n{transcript}\nUser:"
)
ASSISTANT_PROMPT = (
    "Below is a conversation between a user and a helpful, honest AI assistant. Write the assistant's next reply."
    "\n\n{transcript}\nAssistant:"
)
STOP = ("\nUser:", "\nAssistant:")


@dataclass(frozen=True)
class SelfChatConfig:
    """Exchanges per conversation (user + assistant), the two prompts ({transcript} in each), and sampling."""

    turns: int = 3
    user_prompt: str = field(default=USER_PROMPT)
    assistant_prompt: str = field(default=ASSISTANT_PROMPT)
    system: str = ""
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= int(self.turns) <= 20:
            raise ValueError(f"turns must be between 1 and 20; got {self.turns}")
        for name in ("user_prompt", "assistant_prompt"):
            if "{transcript}" not in getattr(self, name):
                raise ValueError(f"{name} must contain {{transcript}}")


def transcript(turns: list[dict[str, Any]]) -> str:
    """The conversation as 'User: ...' / 'Assistant: ...' lines (a system prompt first, as 'System: ...')."""
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    return "\n".join(f"{names[t['role']]}: {t['content']}" for t in turns)


def _request(template: str, turns: list[dict[str, Any]], cfg: SelfChatConfig) -> CompletionRequest:
    prompt = template.replace("{transcript}", transcript(turns))
    return CompletionRequest(prompt, cfg.max_tokens, cfg.temperature, cfg.top_p, stop=STOP)


def converse(
    llm: LLM,
    seeds: list[str],
    cfg: SelfChatConfig,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_answer: Any = None,
) -> tuple[list[list[dict[str, Any]]], dict[str, int]]:
    """(conversations, stop reasons): one conversation per seed instruction, up to `cfg.turns` exchanges each."""
    system = [{"role": "system", "content": cfg.system}] if cfg.system else []
    convs = [[*system, {"role": "user", "content": seed}] for seed in seeds]
    open_ = list(range(len(convs)))
    stops = {"empty_answer": 0, "empty_question": 0, "repeated_question": 0}
    for step in range(cfg.turns):
        answers = complete_all(
            llm, [_request(cfg.assistant_prompt, convs[i], cfg) for i in open_], concurrency=concurrency,
            on_answer=on_answer,
        )  # fmt: skip
        still = []
        for i, answer in zip(open_, answers, strict=True):
            text = answer.text.strip()
            if not text:
                stops["empty_answer"] += 1
                convs[i].pop()  # the unanswered question goes
                continue
            convs[i].append({"role": "assistant", "content": text})
            still.append(i)
        if step == cfg.turns - 1:
            break
        questions = complete_all(
            llm, [_request(cfg.user_prompt, convs[i], cfg) for i in still], concurrency=concurrency,
            on_answer=on_answer,
        )  # fmt: skip
        open_ = []
        for i, question in zip(still, questions, strict=True):
            text = question.text.strip()
            asked = {t["content"] for t in convs[i] if t["role"] == "user"}
            if not text or text in asked:
                stops["empty_question" if not text else "repeated_question"] += 1
                continue
            convs[i].append({"role": "user", "content": text})
            open_.append(i)
    return convs, stops


def self_chat_job(
    llm: LLM,
    cfg: SelfChatConfig,
    flt: ExampleFilter,
    *,
    backend: str,
    author: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> JobFn:
    """A job that grows each row matching `flt` (its instruction + input as the opening) into a conversation."""

    def job(ctx: JobContext) -> dict[str, Any]:
        load_for_job(llm, ctx.progress)
        parents = examples.fetch(ctx.store, flt, ("id", "instruction", "input"))
        seeds = [i + (f"\n\n{x}" if x else "") for i, x in zip(parents["instruction"], parents["input"], strict=True)]
        total, sent = max(1, len(seeds) * (2 * cfg.turns - 1)), [0]

        def tick(*_: object) -> None:
            sent[0] += 1
            ctx.progress(min(sent[0], total), total, f"{sent[0]:,} requests answered")

        convs, stops = converse(llm, seeds, cfg, concurrency=concurrency, on_answer=tick)
        rows = []
        for parent_id, turns in zip(parents["id"], convs, strict=True):
            if not any(t["role"] == "assistant" for t in turns):
                continue
            chat.check_order(turns)
            instruction, output, _ = chat.first_exchange(turns)
            exchanges = sum(t["role"] == "assistant" for t in turns)
            provenance = {"method": "self-chat", "parent_id": int(parent_id), "exchanges": exchanges}
            provenance |= {"backend": backend, "model": llm.name, "job_id": ctx.job_id}
            rows.append(
                {
                    "instruction": instruction,
                    "input": "",
                    "output": output,
                    "messages": turns,
                    "origin": "generated",
                    "status": "pending",
                    "provenance": provenance,
                    "meta": {"parent_id": int(parent_id), "self_chat_exchanges": exchanges},
                }
            )
        source = f"self-chat-job-{ctx.job_id}"
        if rows:
            info = examples.SourceInfo(
                name=source,
                format="self-chat",
                options={"job_id": ctx.job_id, "backend": backend, "model": llm.name, "config": asdict(cfg)},
                author=author or config.get("author"),
            )
            examples.add_examples(ctx.store, pd.DataFrame(rows), info)
        return {"parents": len(parents), "rows": len(rows), "source": source} | stops

    return job
