"""Item sets: a strict JSONL file ({"question", "options", "answer"} or {"question", "answer"}) or a snapshot's
held-out split (multiple choice where the question lists its options inline, else free-form)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.evaluate.answers import extract_answer, normalise

FIELDS = ("question", "options", "answer", "slice", "id")
_INLINE = re.compile(r"\n\s*options:\s*\n((?:[ \t]*-[^\n]*(?:\n|$))+)\s*$", re.IGNORECASE)
_LETTER = re.compile(r"^\(([A-Z])\)\s*")


class ItemError(ValueError):
    """An item set that breaks a rule; the message names the file, line, field and rule."""


@dataclass(frozen=True)
class EvalItem:
    """One question. With `options` it is multiple choice (answer_index is the right option); else free-form."""

    index: int
    question: str
    answer: str
    options: tuple[str, ...] | None = None
    answer_index: int | None = None
    append_options: bool = True  # False when the question already lists the options inline
    slices: dict[str, str] = field(default_factory=dict)
    id: str | None = None

    @property
    def kind(self) -> str:
        return "multiple_choice" if self.options else "exact_match"

    def user_turn(self) -> str:
        """The user message: the question as given, plus FLAN's 'OPTIONS:' list when the options are separate."""
        if self.options and self.append_options:
            return self.question + "\n\nOPTIONS:\n" + "\n".join(f"- {o}" for o in self.options)
        return self.question


def item_set_hash(items: list[EvalItem]) -> str:
    """Identity of an item set (questions, options, answers in order): paired comparisons need the same one."""
    payload = json.dumps([[i.question, i.options, i.answer] for i in items], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def load_items(path: Path | str) -> list[EvalItem]:
    """Items of a JSONL file; an ItemError names the line, the field and the rule broken."""
    path = Path(path)
    items: list[EvalItem] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                items.append(_parse_line(path, number, line, len(items)))
    if not items:
        raise ItemError(f"{path}: no items; write one JSON object per line with 'question' and 'answer'")
    return items


def _parse_line(path: Path, number: int, line: str, index: int) -> EvalItem:
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
    except ValueError as err:
        raise ItemError(f"{where}: not valid JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise ItemError(f"{where}: each line must be a JSON object")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise ItemError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(FIELDS)}")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ItemError(f"{where}: field 'question' must be a non-empty string")
    options = record.get("options")
    answer = record.get("answer")
    slice_value = record.get("slice")
    if slice_value is not None and not isinstance(slice_value, str):
        raise ItemError(f"{where}: field 'slice' must be a string")
    slices = {"slice": slice_value} if slice_value else {}
    item_id = None if record.get("id") is None else str(record["id"])
    if options is None:
        if not isinstance(answer, str) or not answer.strip():
            raise ItemError(f"{where}: field 'answer' must be a non-empty string")
        return EvalItem(index, question, answer, slices=slices, id=item_id)
    if not isinstance(options, list) or len(options) < 2:
        raise ItemError(f"{where}: field 'options' must be a list of at least 2 strings")
    if not all(isinstance(o, str) and o.strip() for o in options):
        raise ItemError(f"{where}: field 'options' must hold non-empty strings only")
    if len(set(options)) != len(options):
        raise ItemError(f"{where}: field 'options' has the same option twice")
    if isinstance(answer, bool) or not isinstance(answer, (str, int)):
        raise ItemError(f"{where}: field 'answer' must be one of the options (text) or its 0-based index")
    if isinstance(answer, int):
        if not 0 <= answer < len(options):
            raise ItemError(f"{where}: field 'answer' index {answer} is outside 0..{len(options) - 1}")
        right = answer
    elif answer in options:
        right = options.index(answer)
    else:
        raise ItemError(f"{where}: field 'answer' {answer!r} is not one of the options")
    return EvalItem(index, question, options[right], tuple(options), right, slices=slices, id=item_id)


def split_inline_options(question: str) -> tuple[str, list[str]] | None:
    """(question without it, options) when the text ends with an 'Options:' list of '- x' lines; else None."""
    found = _INLINE.search(question)
    if not found:
        return None
    options = [ln.strip()[1:].strip() for ln in found.group(1).splitlines() if ln.strip()]
    return question[: found.start()].rstrip(), options


def match_option(answer: str, options: list[str]) -> int | None:
    """Index of the option an answer names (its text, or its '(X)' letter); None when it names none or several."""
    wanted = normalise(answer)
    hits = [i for i, o in enumerate(options) if normalise(o) == wanted]
    if not hits:
        letter = _LETTER.match(answer.strip() + " ")
        hits = [i for i, o in enumerate(options) if letter and o.startswith(f"({letter.group(1)})")]
    if not hits:
        hits = [i for i, o in enumerate(options) if normalise(_LETTER.sub("", o)) == wanted]
    return hits[0] if len(hits) == 1 else None


def item_from_row(index: int, question: str, reference: str, slices: dict[str, str], item_id: str | None) -> EvalItem:
    """Multiple choice when the question lists inline options and the reference's final answer names one."""
    split = split_inline_options(question)
    if split:
        options = split[1]
        right = match_option(extract_answer(reference), options)
        if right is not None and len(set(options)) == len(options) and len(options) >= 2:
            return EvalItem(index, question, options[right], tuple(options), right, False, slices, item_id)
    return EvalItem(index, question, reference, slices=slices, id=item_id)


def items_from_rows(rows: list[dict[str, Any]]) -> list[EvalItem]:
    """Items from snapshot rows (their first user turn and last reply), sliced by source and task cluster."""
    from curation.finetune.data import conversation

    items = []
    for row in rows:
        turns = conversation(row)
        question = next((t["content"] for t in turns if t["role"] == "user"), "")
        slices = {k: str(row.get(k) or "(none)") for k in ("source", "task_cluster")}
        items.append(item_from_row(len(items), question, turns[-1]["content"], slices, str(row.get("id"))))
    return items


def items_from_snapshot(path: Path | str, limit: int | None = None) -> list[EvalItem]:
    """The held-out split of a snapshot folder as items (first `limit` rows)."""
    from curation.mixture.snapshot import load_snapshot

    _, heldout, _ = load_snapshot(path)
    if heldout.empty:
        raise ItemError(f"snapshot {Path(path).name} has no held-out rows; make one with a held-out share")
    rows = heldout.head(limit) if limit else heldout
    return items_from_rows(rows.to_dict("records"))
