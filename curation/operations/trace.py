"""Reasoning-trace quality: repetition loops, an unclosed `<think>`, a missing, empty or overlong rationale, and a
final answer that differs from what the rationale concludes (the answer-conflict check of `curation.cot.formats`,
called here, not copied).

The rationale is found as the CoT formats find it (`reasoning_of`: a `<think>` block, the final assistant turn's
`reasoning_content`, importer fields, an answer marker). Label = the first problem found, or "ok" for a sound
trace, "no_trace" for a row with no reasoning and no loop; score = the rationale's length in words (None without
one). `decide` tags each problem (`trace:loop`) or rejects the row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from curation.cot.formats import answer_conflict, reasoning_of
from curation.operations.base import Decision, Operation, RowText, Signal, register

PROBLEMS = ("think_unclosed", "no_answer", "empty_rationale", "loop", "overlong", "answer_conflict")
ACTIONS = ("tag", "reject")
_OPEN, _CLOSE = re.compile(r"<think>", re.I), re.compile(r"</think>", re.I)
_BLOCK = re.compile(r"<think>(.*?)</think>", re.I | re.S)
_SEPARATE = ("think", "reasoning_content", "fields")  # a rationale stored apart from its answer can contradict it


def back_to_back(words: list[str], max_period: int, min_repeats: int = 2) -> tuple[int, int, int]:
    """(words covered, period, start) of the longest stretch where a block of up to `max_period` words repeats
    back to back: a generation loop. Structured traces (stack steps, templated logic) repeat with changes, so
    they give short stretches; on BIG-Bench Hard's 1,620 code-davinci-002 traces only its 5 real loops cover
    30+ words three times over, and none of alpaca_subset_5000 does."""
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(w.lower(), len(vocab)) for w in words), dtype=np.int64, count=len(words))
    best = (0, 0, 0)
    for period in range(1, min(max_period, len(ids) // max(min_repeats, 2)) + 1):
        same = np.concatenate(([0], (ids[:-period] == ids[period:]).astype(np.int8), [0]))
        edges = np.diff(same)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        if len(starts):
            k = int(np.argmax(ends - starts))
            if ends[k] - starts[k] + period > best[0]:
                best = (int(ends[k] - starts[k] + period), period, int(starts[k]))
    return best


def _final_text(row: RowText) -> str:
    """The output, or for a conversation with no output its last assistant turn."""
    if row.output.strip() or not row.messages:
        return row.output
    turns = [t for t in row.messages if isinstance(t, dict) and t.get("role") == "assistant"]
    return str(turns[-1].get("content") or "") if turns else ""


def _loop(words: list[str], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Evidence of a generation loop in the words, or None."""
    repeats, least = int(params["loop_min_repeats"]), int(params["loop_min_words"])
    if len(words) < least:
        return None
    covered, period, start = back_to_back(words, int(params["loop_max_period"]), repeats)
    if covered < least or covered // max(period, 1) < repeats:
        return None
    return {"block": " ".join(words[start : start + period])[:200], "period": period, "repeats": covered // period}


def problems_of(row: RowText, params: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
    """({problem: evidence}, rationale words or None) for one row."""
    output, found = _final_text(row), {}
    opened, closed = len(_OPEN.findall(output)), len(_CLOSE.findall(output))
    if opened > closed:
        found["think_unclosed"] = {"opened": opened, "closed": closed}
    elif opened and not _CLOSE.split(output)[-1].strip():
        found["no_answer"] = {"after_think": ""}
    block = _BLOCK.search(output)
    if block and not block.group(1).strip():
        found["empty_rationale"] = {"words": 0}
    reasoning = reasoning_of(output, row.meta, row.messages)
    trace = reasoning.rationale if reasoning else (_OPEN.split(output)[-1] if "think_unclosed" in found else output)
    if loop := _loop(trace.split(), params):
        found["loop"] = loop
    words = len(reasoning.rationale.split()) if reasoning else None
    if words is not None and words > int(params["max_rationale_words"]):
        found["overlong"] = {"words": words, "max": int(params["max_rationale_words"])}
    if reasoning and reasoning.found_in in _SEPARATE:
        concluded = answer_conflict(reasoning.rationale, reasoning.answer)
        if concluded is not None:
            found["answer_conflict"] = {"answer": reasoning.answer[:200], "rationale_concludes": concluded[:200]}
    return found, words


class TraceQuality(Operation):
    name = "trace"
    title = "Reasoning trace"
    description = "loops, unclosed <think>, empty or overlong rationale, answer differing from the rationale"
    score_range = None  # the score is the rationale's length in words
    defaults: Mapping[str, Any] = {
        "loop_max_period": 60,
        "loop_min_repeats": 3,
        "loop_min_words": 30,
        "max_rationale_words": 4000,
        "action": "tag",
        "problems": list(PROBLEMS),
    }

    def check_params(self, params: Mapping[str, Any]) -> None:
        for key, low in (
            ("loop_max_period", 1),
            ("loop_min_repeats", 2),
            ("loop_min_words", 2),
            ("max_rationale_words", 1),
        ):
            if int(params[key]) < low:
                raise ValueError(f"trace: {key} must be >= {low}; got {params[key]}")
        if params["action"] not in ACTIONS:
            raise ValueError(f"trace: action must be one of {ACTIONS}; got {params['action']!r}")
        problems = params["problems"]
        if not isinstance(problems, (list, tuple)) or not problems or set(problems) - set(PROBLEMS):
            raise ValueError(f"trace: problems must be a non-empty list among {PROBLEMS}; got {problems!r}")

    def score(self, rows: Sequence[RowText], params: Mapping[str, Any]) -> list[Signal]:
        signals = []
        for row in rows:
            found, words = problems_of(row, params)
            ordered = {p: found[p] for p in PROBLEMS if p in found}
            label = next(iter(ordered), "ok" if words is not None else "no_trace")
            signals.append(Signal(row.id, None if words is None else float(words), label, {"problems": ordered}))
        return signals

    def decide(self, signals: Sequence[Signal], params: Mapping[str, Any]) -> list[Decision]:
        decisions = []
        for s in signals:
            hit = [p for p in params["problems"] if p in s.evidence.get("problems", {})]
            if not hit:
                continue
            reason = "trace: " + ", ".join(hit)
            if params["action"] == "reject":
                decisions.append(Decision(s.id, reason, status="rejected"))
            else:
                decisions.append(Decision(s.id, reason, add_tags=tuple(f"trace:{p}" for p in hit)))
        return decisions


register(TraceQuality())
