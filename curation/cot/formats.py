"""Reasoning formats: find a row's rationale and final answer, and render them in a training target format.

Targets, chosen per mixture group:
- `cot`: Flan CoT, the rationale then "So the answer is X.";
- `direct`: the final answer only;
- `think`: `<think>\\n{rationale}\\n</think>\\n\\n{answer}` (LLaMA-Factory's reasoning template with
  `enable_thinking`, Qwen3 / DeepSeek-R1 style), and in `messages` the assistant turn carries the rationale in
  `reasoning_content` beside the answer in `content`.

The rationale is found, in this order: a `<think>` block in the output; the `reasoning_content` of the
conversation's final assistant turn; the `rationale` / `answer` fields an importer kept in `meta` (only while
the output still reads as imported); an answer marker or short final answer in the output (`detector`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from curation.cot.detector import split_answer, split_think

TARGETS = ("cot", "direct", "think")
THINK_OPEN, THINK_CLOSE = "<think>\n", "\n</think>\n\n"  # LLaMA-Factory's default thought words


@dataclass(frozen=True)
class Reasoning:
    """A rationale, the final answer it leads to, and where they were found."""

    rationale: str
    answer: str
    found_in: str  # think | reasoning_content | fields | answer_marker | explanation | conclusion | short_final


def _loads(value: Any) -> Any:
    """A JSON column value (text, parsed, or a missing NaN/None) as a dict or list, or None."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else None
    return value if isinstance(value, (dict, list)) else None


def flan_cot_text(rationale: str, answer: str) -> str:
    """Flan's CoT target: "<rationale> So the answer is <answer>." (no second full stop after ., ! or ?)."""
    answer = answer.strip()
    end = "" if answer.endswith((".", "!", "?")) else "."
    return f"{rationale.strip()} So the answer is {answer}{end}"


def think_text(rationale: str, answer: str) -> str:
    return f"{THINK_OPEN}{rationale.strip()}{THINK_CLOSE}{answer.strip()}"


def reasoning_of(output: str, meta: Any = None, messages: Any = None) -> Reasoning | None:
    """The rationale and final answer of a row, or None when the row has no separable reasoning."""
    output = output or ""
    trace, answer = split_think(output)
    if trace and answer:
        return Reasoning(trace, answer, "think")
    turns = _loads(messages) or []
    last = next((t for t in reversed(turns) if isinstance(t, dict) and t.get("role") == "assistant"), None)
    if last:
        trace = str(last.get("reasoning_content") or last.get("reasoning") or "").strip()
        if trace and str(last.get("content") or "").strip() == output.strip():
            return Reasoning(trace, output.strip(), "reasoning_content")
    fields = _loads(meta) or {}
    rationale, answer = str(fields.get("rationale") or "").strip(), str(fields.get("answer") or "").strip()
    if rationale and answer and output.strip() in (answer, flan_cot_text(rationale, answer)):
        return Reasoning(rationale, answer, "fields")
    split = split_answer(output)
    if split and split[0].strip():
        return Reasoning(split[0].strip(), split[1].strip(), split[2])
    return None


def render(reasoning: Reasoning, target: str) -> str:
    """The output text of a reasoning row in a target format."""
    if target == "cot":
        return flan_cot_text(reasoning.rationale, reasoning.answer)
    if target == "direct":
        return reasoning.answer
    if target == "think":
        return think_text(reasoning.rationale, reasoning.answer)
    raise ValueError(f"CoT target format must be one of {TARGETS}; got {target!r}")


def convert_row(row: dict[str, Any], target: str) -> tuple[str, list[dict[str, Any]] | None, bool]:
    """(output, messages, converted) of a row in a target format; unchanged when no rationale is found.

    With messages the final assistant turn is rewritten; `think` also gives rows without messages the
    `messages` shape (user turn, then an assistant turn with `reasoning_content`).
    """
    if target not in TARGETS:
        raise ValueError(f"CoT target format must be one of {TARGETS}; got {target!r}")
    turns = _loads(row.get("messages"))
    found = reasoning_of(row.get("output") or "", row.get("meta"), turns)
    if found is None:
        return row.get("output") or "", turns, False
    text = render(found, target)
    reply: dict[str, Any] = {"role": "assistant", "content": text}
    if target == "think":
        reply = {"role": "assistant", "content": found.answer, "reasoning_content": found.rationale}
    if turns:
        at = max(i for i, t in enumerate(turns) if t.get("role") == "assistant")
        turns = [*turns[:at], reply, *turns[at + 1 :]]
    elif target == "think":
        prompt = "\n\n".join(p for p in (row.get("instruction") or "", row.get("input") or "") if p)
        turns = [{"role": "user", "content": prompt}, reply]
    return text, turns, True


_CANON = re.compile(r"[^a-z0-9.]+")


def _canonical(answer: str) -> str:
    """An answer reduced for comparison: lowercase, option letters unwrapped, "$" and thousands commas dropped."""
    text = answer.strip().lower().rstrip(".")
    if m := re.fullmatch(r"\(?([a-h])\)?", text):
        return m.group(1)
    if m := re.fullmatch(r"\$?(-?\d[\d,]*(?:\.\d+)?)\s*%?", text):
        value = m.group(1).replace(",", "")
        return value.rstrip("0").rstrip(".") if "." in value else value
    return _CANON.sub(" ", text.replace(",", "")).strip(" .")


def concluded_answer(rationale: str) -> str | None:
    """The answer a rationale concludes by itself ("... so the answer is 12", "Therefore, x = 10."), if any."""
    split = split_answer(rationale)
    return split[1] if split and split[2] in ("answer_marker", "conclusion") else None


def answer_conflict(rationale: str, answer: str) -> str | None:
    """What the rationale concludes when it differs from the answer field; None when consistent or unknown.

    A conclusion sentence agrees when it contains the answer ("Therefore, John is 10 years old." vs "10").
    """
    concluded = concluded_answer(rationale)
    if not concluded or not answer.strip():
        return None
    theirs = _canonical(answer)
    if _canonical(concluded) == theirs or f" {theirs} " in f" {_canonical(concluded)} ":
        return None
    return concluded


def check_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """(conflicts, rationale word counts) over rows (id, output, meta, messages) that have a rationale.

    Only rationales stored apart from their answer (think block, reasoning_content, importer fields) can
    disagree with it; a conflict names the row, the answer field and what the rationale concludes.
    """
    conflicts, lengths = [], []
    for row in rows:
        found = reasoning_of(row.get("output") or "", row.get("meta"), row.get("messages"))
        if found is None or found.found_in == "short_final":  # a short last sentence alone is too weak a cue
            continue
        lengths.append(len(found.rationale.split()))
        concluded = answer_conflict(found.rationale, found.answer) if found.found_in in _SEPARATE else None
        if concluded is not None:
            conflicts.append({"id": int(row["id"]), "answer": found.answer, "rationale_concludes": concluded})
    return conflicts, lengths


_SEPARATE = ("think", "reasoning_content", "fields")
