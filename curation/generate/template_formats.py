"""Flan 2022 rendering formats as pure functions: zero-shot, few-shot, answer options and chain-of-thought.

A task row is a dict of field values; a template is an input pattern and a target pattern with named
placeholders. Every choice (template, exemplars, option header, bullet, CoT trigger) comes from a random
generator seeded with (seed, row index), so a preview shows exactly the rows an apply would write.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("zero-shot", "few-shot", "cot")
FEWSHOT_STYLES = {  # name -> (input prefix, answer prefix)
    "plain": ("", ""),
    "qa": ("Q: ", "A: "),
    "question-answer": ("Question: ", "Answer: "),
}
OPTIONS_STYLES = ("fixed", "random")
FIXED_OPTIONS_HEADER = "OPTIONS:"
OPTIONS_HEADERS = (
    "OPTIONS:",
    "Options:",
    "Choose your answer from:",
    "Pick from:",
    "Select from the following:",
    "Possible answers:",
    "Available choices:",
    "Answer choices:",
)
# A bullet is a format pattern over the option's position: letter (A, B, ...) and number (1, 2, ...).
OPTIONS_BULLETS = ("- ", "* ", "+ ", "({letter}) ", "{letter}. ", "{number}. ", "{number}) ")
COT_STYLES = ("rationale-first", "answer-first")
COT_TRIGGERS = (
    "Let's think step by step.",
    "Let's think first.",
    "Think it through before answering.",
    "Let's work this out one step at a time.",
    "Reason carefully, then give the answer.",
    "Explain your reasoning, then answer.",
)
INPUT_ANSWER_SEPARATOR = "\n\n"
EXEMPLAR_SEPARATOR = "\n\n\n"


@dataclass(frozen=True)
class Task:
    """A labelled task: its cluster, input fields, answer field and (for classification) its label set."""

    name: str
    cluster: str
    input_fields: tuple[str, ...]
    answer_field: str = "answer"
    options: tuple[str, ...] = ()
    rationale_field: str | None = None
    description: str = ""

    @property
    def is_classification(self) -> bool:
        return bool(self.options)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field a row of this task may carry (inputs, answer, rationale)."""
        extra = (self.answer_field,) + ((self.rationale_field,) if self.rationale_field else ())
        return tuple(dict.fromkeys(self.input_fields + extra))


@dataclass(frozen=True)
class Template:
    """One instruction template of a task: an input pattern and a target pattern."""

    id: str
    task: str
    input: str
    target: str = "{answer}"
    version: int | None = None


@dataclass(frozen=True)
class FormatConfig:
    """How to render: the format, few-shot k and style, option and CoT variants, and the seed."""

    format: str = "zero-shot"
    k: int = 0
    fewshot_style: str = "plain"
    options_style: str = "fixed"
    cot_style: str = "rationale-first"
    cot_trigger: str = "fixed"
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("format", self.format, FORMATS),
            ("fewshot_style", self.fewshot_style, tuple(FEWSHOT_STYLES)),
            ("options_style", self.options_style, OPTIONS_STYLES),
            ("cot_style", self.cot_style, COT_STYLES),
            ("cot_trigger", self.cot_trigger, ("fixed", "random")),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.format == "few-shot" and self.k < 1:
            raise ValueError(f"few-shot needs k >= 1 exemplars; got k={self.k}")
        if self.k < 0:
            raise ValueError(f"k must be >= 0; got {self.k}")


@dataclass(frozen=True)
class Rendered:
    """One rendered example: the full prompt, its target and what produced it."""

    row_index: int
    instruction: str
    output: str
    template_id: str
    format: str
    exemplars: tuple[int, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


def placeholders(pattern: str) -> list[str]:
    """Placeholder names in a pattern, in order; ValueError on malformed braces or format specs."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(pattern):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} may not carry a format spec or conversion")
        names.append(name)
    return names


def render_options(options: Sequence[str], style: str, rng: random.Random) -> tuple[str, dict[str, str]]:
    """The answer-options block ("OPTIONS:" + dash list, or a random header and bullet) and the choices made."""
    if style == "fixed":
        header, bullet = FIXED_OPTIONS_HEADER, "- "
    else:
        header, bullet = rng.choice(OPTIONS_HEADERS), rng.choice(OPTIONS_BULLETS)
    lines = [bullet.format(letter=chr(65 + i), number=i + 1) + opt for i, opt in enumerate(options)]
    return "\n".join([header, *lines]), {"options_header": header, "options_bullet": bullet.strip()}


def cot_target(answer: str, rationale: str, style: str) -> str:
    """Chain-of-thought target: rationale then "So the answer is X.", or "X. Explanation: rationale"."""
    if style == "answer-first":
        return f"{answer}. Explanation: {rationale}"
    return f"{rationale} So the answer is {answer}."


def _fill(pattern: str, values: dict[str, str]) -> str:
    return pattern.format_map(values)


def _pair(
    task: Task, template: Template, row: dict[str, str], extra: dict[str, str], cfg: FormatConfig
) -> tuple[str, str]:
    values = {**{f: str(row.get(f, "")) for f in task.fields}, "options_": extra.get("options_", "")}
    values["answer"] = str(row[task.answer_field])
    prompt = _fill(template.input, values)
    if cfg.format != "cot":
        return prompt, _fill(template.target, values)
    rationale = str(row.get(task.rationale_field or "", "") or "")
    return f"{prompt}\n{extra['trigger']}", cot_target(values["answer"], rationale, cfg.cot_style)


def _few_shot(pairs: list[tuple[str, str]], target_prompt: str, style: str) -> str:
    q, a = FEWSHOT_STYLES[style]
    shots = [f"{q}{x}{INPUT_ANSWER_SEPARATOR}{a}{y}" for x, y in pairs]
    last = f"{q}{target_prompt}" + (f"{INPUT_ANSWER_SEPARATOR}{a.rstrip()}" if a else "")
    return EXEMPLAR_SEPARATOR.join([*shots, last])


def render_row(
    task: Task, templates: Sequence[Template], rows: Sequence[dict[str, str]], index: int, cfg: FormatConfig
) -> Rendered:
    """Render row `index` of `rows`; few-shot exemplars come from the other rows, never the row itself."""
    rng = random.Random(f"{cfg.seed}:{index}")
    template = rng.choice(list(templates))
    extra: dict[str, str] = {}
    details: dict[str, Any] = {}
    if task.options:
        extra["options_"], details = render_options(task.options, cfg.options_style, rng)
    if cfg.format == "cot":
        extra["trigger"] = COT_TRIGGERS[0] if cfg.cot_trigger == "fixed" else rng.choice(COT_TRIGGERS)
        details |= {"cot_trigger": extra["trigger"], "cot_style": cfg.cot_style}
    prompt, target = _pair(task, template, rows[index], extra, cfg)
    exemplars: list[int] = []
    if cfg.k and cfg.format != "zero-shot":
        others = [j for j in range(len(rows)) if j != index]
        if len(others) < cfg.k:
            raise ValueError(f"task {task.name}: {cfg.k} exemplars need at least {cfg.k + 1} rows; got {len(rows)}")
        exemplars = rng.sample(others, cfg.k)
        pairs = [_pair(task, template, rows[j], extra, cfg) for j in exemplars]
        prompt = _few_shot(pairs, prompt, cfg.fewshot_style)
        details |= {"k": cfg.k, "fewshot_style": cfg.fewshot_style}
    return Rendered(index, prompt, target, template.id, cfg.format, tuple(exemplars), details)
