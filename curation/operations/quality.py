"""Text-quality heuristics on the response: Gopher, C4 and FineWeb rules, rewritten here for short instruction data.

datatrove 0.10 installs cleanly, but its filters split words with spaCy (a heavy extra, plus a model) and C4 splits
sentences with NLTK punkt data from a hub, and each filter stops at its first failed rule. So the rules are written
here, each citing where it and its threshold come from (datatrove's `pipeline/filters/*.py` files name the papers):
- gopher_quality_filter.py (Rae et al. 2021, "Scaling Language Models", appendix A1);
- gopher_repetition_filter.py (the same appendix, table A1: duplicate lines and n-grams);
- c4_filters.py (Raffel et al. 2020, section 2.2: "lorem ipsum", "{", words over 1000 characters);
- fineweb_quality_filter.py (Penedo et al. 2024, FineWeb: line punctuation, short lines, duplicated lines).
Web pages are long; instruction answers are not ("9", a five-item list). So the ratio rules only apply from
`min_words` words on, the bullet, short-line and line-punctuation rules are off by default (lists are normal
answers), and a rule with threshold None is off. Whitespace splits words (datatrove: spaCy tokens).
score = fraction of the applicable rules passed; label = the first failed rule, or "ok".
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from curation.operations.base import Decision, Operation, RowText, Signal, register

STOP_WORDS = {"the", "be", "to", "of", "and", "that", "have", "with"}  # gopher_quality_filter.py STOP_WORDS
TERMINAL = tuple(".!?\"'…。！？")  # FineWeb's TERMINAL_PUNCTUATION, the common part
# rule: (measure, "min" or "max" allowed, default threshold, applies only from min_words words on)
RULES: dict[str, tuple[str, str, float | None, bool]] = {
    "gopher_min_words": ("words", "min", 1, False),  # Gopher: 50 (web pages); an answer needs one word
    "gopher_max_words": ("words", "max", 100_000, False),  # Gopher: 100,000
    "gopher_min_mean_word_length": ("mean_word_length", "min", 3, True),  # Gopher: 3 to 10 characters
    "gopher_max_mean_word_length": ("mean_word_length", "max", 10, True),
    "gopher_hash_ratio": ("hash_ratio", "max", 0.1, True),  # Gopher: '#' or ellipsis per word <= 0.1
    "gopher_ellipsis_ratio": ("ellipsis_ratio", "max", 0.1, True),
    "gopher_bullet_lines": ("bullet_lines", "max", None, True),  # Gopher: 0.9 of lines start with a bullet
    "gopher_ellipsis_lines": ("ellipsis_lines", "max", 0.3, True),  # Gopher: 0.3 of lines end with an ellipsis
    "gopher_alpha_words": ("alpha_words", "min", 0.8, True),  # Gopher: 80% of words hold a letter
    "gopher_stop_words": ("stop_words", "min", 2, True),  # Gopher: at least 2 of the 8 stop words
    "gopher_dup_lines": ("dup_lines", "max", 0.3, True),  # Gopher repetition: 0.3 of lines are duplicates
    "gopher_dup_line_chars": ("dup_line_chars", "max", 0.2, True),  # and 0.2 of characters
    "gopher_top_2gram": ("top_2gram", "max", 0.2, True),  # Gopher repetition: top n-gram share 0.2/0.18/0.16
    "gopher_top_3gram": ("top_3gram", "max", 0.18, True),
    "gopher_top_4gram": ("top_4gram", "max", 0.16, True),
    "gopher_dup_5gram": ("dup_5gram", "max", 0.15, True),  # duplicated n-grams: 0.15 for 5 ... 0.10 for 10
    "gopher_dup_10gram": ("dup_10gram", "max", 0.10, True),
    "c4_lorem_ipsum": ("lorem_ipsum", "max", 0, False),  # C4: drop pages with "lorem ipsum"
    "c4_curly_bracket": ("curly_brackets", "max", None, False),  # C4: drop pages with "{" (code answers: off)
    "c4_max_word_length": ("longest_word", "max", 1000, False),  # C4: words over 1000 characters
    "fineweb_line_punct": ("line_punct", "min", None, True),  # FineWeb: 0.12 of lines end in punctuation
    "fineweb_short_lines": ("short_lines", "max", None, True),  # FineWeb: 0.67 of lines <= 30 characters
    "fineweb_dup_line_chars": ("dup_line_chars", "max", 0.1, True),  # FineWeb: 0.01 (web); here 0.1
    "fineweb_list_ratio": ("list_ratio", "max", 0.3, True),  # FineWeb: newlines per word 0.3
}


def _dup_ngram_chars(words: list[str], n: int) -> int:
    """Characters in repeated n-grams, scanning as datatrove's `find_all_duplicate` does."""
    seen, repeated, i = set(), 0, 0
    while i < len(words) - n + 1:
        gram = "".join(words[i : i + n])
        if gram in seen:
            repeated, i = repeated + len(gram), i + n
        else:
            seen.add(gram)
            i += 1
    return repeated


def _top_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by the most frequent n-gram, when it occurs more than once (a single one is no repeat)."""
    counts = Counter("".join(words[i : i + n]) for i in range(len(words) - n + 1))
    gram, count = counts.most_common(1)[0] if counts else ("", 0)
    return len(gram) * count if count > 1 else 0


def measures(text: str) -> dict[str, float]:
    """Every measure the rules read, for one text."""
    words = text.split()
    real = [w for w in words if w.strip(string.punctuation + "…")]
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    n, n_lines, chars = max(len(words), 1), max(len(lines), 1), max(len(text), 1)
    dup_lines = [line for i, line in enumerate(lines) if line in lines[:i]]
    return {
        "words": len(real),
        "mean_word_length": sum(map(len, real)) / len(real) if real else 0.0,
        "hash_ratio": text.count("#") / n,
        "ellipsis_ratio": (text.count("...") + text.count("…")) / n,
        "bullet_lines": sum(line.startswith(("•", "-", "*")) for line in lines) / n_lines,
        "ellipsis_lines": sum(line.endswith(("...", "…")) for line in lines) / n_lines,
        "alpha_words": sum(any(c.isalpha() for c in w) for w in words) / n,
        "stop_words": len(STOP_WORDS & {w.lower() for w in words}),
        "dup_lines": len(dup_lines) / n_lines,
        "dup_line_chars": sum(map(len, dup_lines)) / chars,
        **{f"top_{k}gram": _top_ngram_chars(words, k) / chars for k in (2, 3, 4)},
        **{f"dup_{k}gram": _dup_ngram_chars(words, k) / chars for k in (5, 10)},
        "lorem_ipsum": float("lorem ipsum" in text.lower()),
        "curly_brackets": text.count("{"),
        "longest_word": max(map(len, words), default=0),
        "line_punct": sum(line.endswith(TERMINAL) for line in lines) / n_lines,
        "short_lines": sum(len(line) <= 30 for line in lines) / n_lines,
        "list_ratio": text.count("\n") / n,
    }


def response_text(row: RowText, fields: Sequence[str]) -> str:
    """The chosen fields joined; a conversation with no output is judged on its assistant turns."""
    text = "\n\n".join(getattr(row, f) for f in fields if getattr(row, f))
    if not text.strip() and row.messages and "output" in fields:
        turns = [t.get("content") for t in row.messages if isinstance(t, dict) and t.get("role") == "assistant"]
        text = "\n\n".join(t for t in turns if isinstance(t, str))
    return text


class Quality(Operation):
    name = "quality"
    title = "Text quality"
    description = "Gopher / C4 / FineWeb heuristic rules on the response; reject rows failing named rules"
    defaults: Mapping[str, Any] = {
        "fields": ["output"],
        "min_words": 20,
        "thresholds": {},
        "min_score": 0.7,  # rejects 4 of alpaca_subset_5000 (degenerate repeats, raw SVG/HTML), 0 of the seeds
        "reject_on": ["gopher_min_words", "c4_lorem_ipsum", "c4_max_word_length"],
    }

    def check_params(self, params: Mapping[str, Any]) -> None:
        fields = params["fields"]
        if not isinstance(fields, (list, tuple)) or not fields or set(fields) - {"instruction", "input", "output"}:
            raise ValueError(f"quality: fields must be a non-empty list of instruction/input/output; got {fields!r}")
        if int(params["min_words"]) < 1:
            raise ValueError(f"quality: min_words must be >= 1; got {params['min_words']}")
        thresholds = params["thresholds"]
        if not isinstance(thresholds, Mapping) or set(thresholds) - set(RULES):
            raise ValueError(f"quality: thresholds must map rule names to numbers or null; known: {sorted(RULES)}")
        if any(v is not None and not isinstance(v, (int, float)) for v in thresholds.values()):
            raise ValueError(f"quality: each threshold must be a number or null; got {dict(thresholds)!r}")
        if not 0.0 <= float(params["min_score"]) <= 1.0:
            raise ValueError(f"quality: min_score must be in [0, 1]; got {params['min_score']}")
        if not isinstance(params["reject_on"], (list, tuple)) or set(params["reject_on"]) - set(RULES):
            raise ValueError(f"quality: reject_on must list rule names; known: {sorted(RULES)}")

    def score(self, rows: Sequence[RowText], params: Mapping[str, Any]) -> list[Signal]:
        limits = {rule: params["thresholds"].get(rule, spec[2]) for rule, spec in RULES.items()}
        signals = []
        for row in rows:
            found = measures(response_text(row, params["fields"]))
            checked, failed = 0, {}
            for rule, (measure, kind, _, gated) in RULES.items():
                limit = limits[rule]
                if limit is None or (gated and found["words"] < int(params["min_words"])):
                    continue
                checked += 1
                value = found[measure]
                if (value < limit) if kind == "min" else (value > limit):
                    failed[rule] = round(value, 4)
            evidence = {"failed": failed, "checked": checked}
            signals.append(Signal(row.id, 1.0 - len(failed) / max(checked, 1), next(iter(failed), "ok"), evidence))
        return signals

    def decide(self, signals: Sequence[Signal], params: Mapping[str, Any]) -> list[Decision]:
        named, floor = set(params["reject_on"]), float(params["min_score"])
        decisions = []
        for s in signals:
            failed = s.evidence.get("failed", {})
            hit = sorted(named & set(failed))
            if hit or (s.score is not None and s.score < floor):
                why = ", ".join(f"{rule}={failed[rule]}" for rule in (hit or failed))
                decisions.append(Decision(s.id, f"quality {s.score:.2f}: {why}", status="rejected"))
        return decisions


register(Quality())
