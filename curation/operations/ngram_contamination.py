"""N-gram benchmark contamination: rows sharing word 13-grams with evaluation files.

As in GPT-3 (Brown et al. 2020, appendix C) and Tulu's decontamination: lowercase, split into words, and flag a
row when its 13-grams occur in an evaluation item. score = the share of the row's distinct n-grams found in the
eval set; evidence = how many, the first one matched and the eval item it came from. The eval files (JSON Lines,
or a JSON list of objects) are read once per file version (cached by path, mtime and size) and never stored.
Beside `curation/dedup/contamination.py` (whole-text ROUGE-L or embedding similarity to each eval row, which finds
paraphrases), this finds verbatim passages anywhere in a long row, and costs one set lookup per n-gram.
An eval text shorter than n words has no n-gram and cannot match (GPT-3 lowered n per benchmark for that).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from curation.operations.base import Decision, Operation, RowText, Signal, register, row_fields

EVAL_FIELDS = (
    *("question", "instruction", "input", "output", "answer", "text", "prompt", "problem", "solution"),
    *("choices", "instances", "canonical_solution"),  # MMLU options, Self-Instruct instances, HumanEval
)
ACTIONS = ("reject", "tag")
_WORD = re.compile(r"\w+")


def ngrams(text: str, n: int) -> set[str]:
    """Distinct word n-grams of a text: lowercase, words are runs of letters, digits and '_' in any script."""
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def _strings(value: Any) -> list[str]:
    """Every string inside a field value (ARC's question is an object, MMLU's choices a list, ...)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    return [text for part in value for text in _strings(part)] if isinstance(value, list) else []


def _items(path: Path) -> list[tuple[str, Any]]:
    """(item label, item) of an eval file; one-line errors name the file, the line and the rule."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path.name}: not valid JSON ({error.msg}, line {error.lineno})") from None
        if not isinstance(data, list):
            raise ValueError(f"{path.name}: a JSON eval file must hold a list of objects")
        return [(str(item.get("id", i)) if isinstance(item, dict) else str(i), item) for i, item in enumerate(data)]
    items = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path.name} line {number}: not valid JSON ({error.msg})") from None
            items.append((str(item.get("id", f"line {number}")) if isinstance(item, dict) else f"line {number}", item))
    return items


@lru_cache(maxsize=8)
def _index(path: str, mtime_ns: int, size: int, n: int, fields: tuple[str, ...]) -> dict[str, str]:
    """n-gram -> label of the first eval item holding it (mtime and size in the key: an edited file is reread)."""
    index: dict[str, str] = {}
    for label, item in _items(Path(path)):
        values = [item] if isinstance(item, str) else [item.get(f) for f in fields] if isinstance(item, dict) else []
        for text in _strings(values):
            for gram in ngrams(text, n):
                index.setdefault(gram, label)
    return index


def eval_index(path: str, n: int, fields: Sequence[str] = EVAL_FIELDS) -> dict[str, str]:
    """The n-gram index of one eval file, cached by its path, mtime and size."""
    stat = os.stat(path)
    return _index(os.path.realpath(path), stat.st_mtime_ns, stat.st_size, n, tuple(fields))


class NgramContamination(Operation):
    name = "ngram_contamination"
    title = "N-gram contamination"
    description = "13-gram overlap with evaluation files (GPT-3 / Tulu decontamination); reject or tag hits"
    variant_param = "eval_files"
    defaults: Mapping[str, Any] = {
        "eval_files": [],
        "n": 13,
        "min_overlap": 0.0,
        "eval_fields": list(EVAL_FIELDS),
        "action": "reject",
    }

    def check_params(self, params: Mapping[str, Any]) -> None:
        files = params["eval_files"]
        if not isinstance(files, (list, tuple)) or not files or not all(isinstance(f, str) for f in files):
            raise ValueError("ngram_contamination: eval_files must list at least one .json or .jsonl eval file")
        for file in files:
            if Path(file).suffix not in (".json", ".jsonl") or not Path(file).is_file():
                raise ValueError(f"ngram_contamination: eval file {file!r} must be an existing .json or .jsonl file")
        if not 1 <= int(params["n"]) <= 50:
            raise ValueError(f"ngram_contamination: n must be in [1, 50]; got {params['n']}")
        if not 0.0 <= float(params["min_overlap"]) <= 1.0:
            raise ValueError(f"ngram_contamination: min_overlap must be in [0, 1]; got {params['min_overlap']}")
        if not isinstance(params["eval_fields"], (list, tuple)) or not params["eval_fields"]:
            raise ValueError(
                f"ngram_contamination: eval_fields must be a non-empty list; got {params['eval_fields']!r}"
            )
        if params["action"] not in ACTIONS:
            raise ValueError(f"ngram_contamination: action must be one of {ACTIONS}; got {params['action']!r}")

    def variant(self, params: Mapping[str, Any]) -> str:
        return "+".join(Path(f).name for f in params["eval_files"])

    def score(self, rows: Sequence[RowText], params: Mapping[str, Any]) -> list[Signal]:
        n = int(params["n"])
        indexes = [(Path(f).name, eval_index(f, n, params["eval_fields"])) for f in params["eval_files"]]
        signals = []
        for row in rows:
            grams = set().union(*(ngrams(text, n) for _, text in row_fields(row)))
            hits = [(gram, name, index[gram]) for name, index in indexes for gram in sorted(grams) if gram in index]
            matched = len({gram for gram, _, _ in hits})
            evidence: dict[str, Any] = {"ngrams": len(grams), "matched": matched}
            if hits:
                evidence |= {"ngram": hits[0][0], "eval_file": hits[0][1], "eval_item": hits[0][2]}
            score = matched / len(grams) if grams else 0.0
            signals.append(Signal(row.id, score, "contaminated" if matched else "clean", evidence))
        return signals

    def decide(self, signals: Sequence[Signal], params: Mapping[str, Any]) -> list[Decision]:
        floor, variant = float(params["min_overlap"]), self.variant(params)
        decisions = []
        for s in signals:
            if s.label != "contaminated" or (s.score or 0.0) < floor:
                continue
            where = f"{s.evidence.get('eval_file')} item {s.evidence.get('eval_item')}"
            reason = f"{s.evidence.get('matched')} shared {params['n']}-gram(s) ({s.score:.0%}) with {where}"
            if params["action"] == "reject":
                decisions.append(Decision(s.id, reason, status="rejected"))
            else:
                decisions.append(Decision(s.id, reason, add_tags=(f"contaminated:{variant}",)))
        return decisions


register(NgramContamination())
