"""One small interface to language models, with three backends: local transformers, OpenAI-compatible HTTP, fake.

`complete(prompt, max_tokens=, temperature=, top_p=, stop=)` returns the continuation and why it ended
("stop" or "length": a truncated response). API keys come from an environment variable at call time and
are never stored.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from curation import models

if TYPE_CHECKING:
    from curation.generate.endpoints import Endpoint

BACKENDS = ("local", "openai", "fake")


class LLMError(RuntimeError):
    """A model could not produce a completion; the message says where and what to check."""


@dataclass(frozen=True)
class Completion:
    """A model's continuation of a prompt and why it ended ("stop" or "length")."""

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class LLM(Protocol):
    """Anything that continues a prompt."""

    name: str

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        stop: Sequence[str] = (),
        presence_penalty: float = 0.0,
    ) -> Completion: ...


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Text before the earliest stop sequence, and whether one was found."""
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


# -- local transformers --------------------------------------------------------------------------
class LocalLM:
    """A local causal LM (default: the packaged SmolLM2-135M-Instruct), loaded on first use."""

    def __init__(self, model: str | None = None, *, device: str | None = None, seed: int = 0, chat: bool = False):
        self.model_ref = model
        self.name = model or models.DEFAULT_MODEL
        self.device = device
        self.seed = seed
        self.chat = chat
        self._loaded: tuple[Any, Any] | None = None
        self._calls = 0
        self._lock = threading.Lock()

    def loading_message(self) -> str:
        """What `load` is about to do, for a job's status line (the packaged model's first use is slow, once)."""
        return f"loading model {self.name}{models.first_use_note(self.model_ref)}"

    def load(self) -> tuple[Any, Any]:
        """Load the model and tokenizer once (GPU when present); later calls return them."""
        with self._lock:
            if self._loaded is None:
                self._loaded = models.load_causal_lm(self.model_ref, self.device)
            return self._loaded

    def _encode(self, tokenizer: Any, prompt: str) -> str:
        if self.chat and getattr(tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": prompt}]
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return prompt

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        stop: Sequence[str] = (),
        presence_penalty: float = 0.0,
    ) -> Completion:
        return self.complete_many([prompt], max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop)[0]

    def complete_many(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        stop: Sequence[str] = (),
        presence_penalty: float = 0.0,
    ) -> list[Completion]:
        """Several prompts in one forward pass per step (left padding); presence_penalty has no local equivalent."""
        import torch

        lm, tokenizer = self.load()
        with self._lock:
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            texts = [self._encode(tokenizer, p) for p in prompts]
            batch = tokenizer(texts, return_tensors="pt", padding=True).to(lm.device)
            torch.manual_seed(self.seed + self._calls)
            self._calls += 1
            sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {}
            with torch.no_grad():
                out = lm.generate(
                    **batch,
                    max_new_tokens=max_tokens,
                    stop_strings=list(stop) or None,
                    tokenizer=tokenizer,
                    pad_token_id=tokenizer.pad_token_id,
                    **({"do_sample": False} | sampling),
                )
        return [self._decode(tokenizer, row[batch["input_ids"].shape[1] :], max_tokens, stop) for row in out]

    @staticmethod
    def _decode(tokenizer: Any, new: Any, max_tokens: int, stop: Sequence[str]) -> Completion:
        ids = [int(t) for t in new]
        ended_early = tokenizer.eos_token_id in ids or tokenizer.pad_token_id in ids
        while ids and ids[-1] in (tokenizer.pad_token_id, tokenizer.eos_token_id):
            ids.pop()
        text, hit = cut_at_stop(tokenizer.decode(ids, skip_special_tokens=True), stop)
        ended = hit or ended_early or len(new) < max_tokens
        return Completion(text, "stop" if ended else "length", completion_tokens=len(ids))


# -- deterministic fake --------------------------------------------------------------------------
_VERBS = ("Summarize", "Explain", "List", "Rewrite", "Describe", "Suggest", "Compare", "Translate", "Outline", "Give")
_THINGS = (
    "the causes of inflation",
    "a healthy breakfast for a runner",
    "how vaccines train the immune system",
    "the rules of chess for a beginner",
    "three ways to save water at home",
    "the plot of a famous novel",
    "a polite email declining an invitation",
    "the difference between weather and climate",
    "tips for a first job interview",
    "why the sky looks blue",
    "the steps to change a bicycle tyre",
    "a short poem about the sea",
)
_MODIFIERS = ("in two sentences", "for a ten-year-old", "as a bulleted list", "in a formal tone", "briefly", "")
_CLASSIFY = ("Classify the sentiment of the following {x} as positive or negative.", "Decide whether the {x} is spam.")
_NOUNS = ("tweet", "product review", "email", "headline", "text message", "comment")
_ODD = ("Draw a picture of a cat.", "Say hi.", "Write a program that sorts numbers.", "Plot the data in a graph.")


@dataclass
class FakeLLM:
    """A deterministic stand-in for tests and demos: answers each Self-Instruct prompt kind from a seeded RNG.

    With `responses`, returns them in order instead (strings or Completions); `prompts` records every prompt.
    """

    seed: int = 0
    responses: list[str | Completion] | None = None
    name: str = "fake"
    prompts: list[str] = field(default_factory=list)

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        temperature: float = 0.7,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        presence_penalty: float = 0.0,
    ) -> Completion:
        self.prompts.append(prompt)
        if self.responses is not None:
            if not self.responses:
                raise LLMError("the fake model ran out of scripted responses")
            item = self.responses.pop(0)
            return item if isinstance(item, Completion) else Completion(item)
        rng = random.Random(f"{self.seed}:{prompt}")  # the prompt alone: same answers in any request order
        tail = prompt.rstrip().rsplit("\n", 1)[-1]
        if tail.startswith("Is it classification?"):
            task = prompt.rstrip().rsplit("\n", 2)[-2]
            text = " Yes" if task.removeprefix("Task: ").startswith(("Classify", "Decide")) else " No"
        elif tail.startswith("Class label:"):
            text = " Positive\nSentence: I loved every minute of it.\nClass label: Negative\nSentence: Never again."
        elif tail.startswith("Example 1"):
            text = f"\nInput: {rng.choice(_THINGS)}\nOutput: Here is my answer number {rng.randint(1, 999)}."
        elif "Reason:" in prompt and "Score:" in prompt:  # a judge rubric
            text = f"Score: {rng.randint(1, 5)}\nReason: the fake judge drew this score from the text."
        elif "#Rewritten Prompt#:" in prompt:  # an Evol-Instruct rewrite
            given = prompt.split("#Given Prompt#:", 1)[-1].split("#Rewritten Prompt#:", 1)[0].strip()
            text = f"{given.rstrip('.?!')} {rng.choice(_MODIFIERS[:-1])}, explaining each step."
        elif prompt.rstrip().endswith(tuple(str(n) + "." for n in range(1, 100))):  # a numbered task list
            text = self._task_list(prompt, rng)
        else:
            text = f"Here is an answer ({rng.randint(1, 999)}) to: {prompt.strip()[:80]}"
        text, hit = cut_at_stop(text, stop)
        return Completion(text, "stop" if hit or len(text.split()) < max_tokens else "length")

    def _task_list(self, prompt: str, rng: random.Random) -> str:
        start = int(prompt.rstrip().rsplit("\n", 1)[-1].rstrip(".") or 1)
        items = []
        for _ in range(6):
            if rng.random() < 0.15:
                items.append(rng.choice(_ODD))
            elif rng.random() < 0.25:
                items.append(rng.choice(_CLASSIFY).format(x=rng.choice(_NOUNS)))
            else:
                items.append(" ".join(f"{rng.choice(_VERBS)} {rng.choice(_THINGS)} {rng.choice(_MODIFIERS)}".split()))
        lines = [f" {items[0]}"] + [f"{start + i}. {item}" for i, item in enumerate(items[1:], start=1)]
        return "\n".join(lines) + "\n\n"


def make_llm(backend: str, *, allowed: Sequence[Endpoint] | None = None, **options: Any) -> LLM:
    """A backend by name: local (model, device, seed, chat), openai (base_url, model, api_key_env, ...), fake.

    With a users file set, openai needs its (api_key_env, base_url) pair in `allowed` (`endpoints.allowed(store)`).
    """
    if backend == "local":
        return LocalLM(options.get("model") or None, device=options.get("device"), seed=int(options.get("seed", 0)))
    if backend == "openai":
        from curation.generate.openai_backend import OpenAIBackend

        keys = ("base_url", "model", "api_key_env", "chat", "timeout", "max_retries", "backoff")
        keys += ("requests_per_min", "tokens_per_min", "max_response_bytes")
        chosen = {k: v for k, v in options.items() if k in keys and v is not None}
        return OpenAIBackend(**chosen, allowed=allowed)  # it checks the pair against `allowed` (with a users file)
    if backend == "fake":
        return FakeLLM(seed=int(options.get("seed", 0)))
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")


def load_for_job(llm: LLM, progress: Callable[[int, int, str], None]) -> None:
    """Load a model that needs loading (the local backend), saying so in the job's progress first."""
    if hasattr(llm, "load"):
        progress(0, 1, llm.loading_message())  # type: ignore[attr-defined]
        llm.load()  # type: ignore[attr-defined]
