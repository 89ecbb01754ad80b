"""PII and secrets: e-mail addresses, phone numbers, IPv4/IPv6 addresses, card numbers (Luhn-checked) and API keys.

Regular expressions with checks (Luhn for cards, `ipaddress` for IPv6, Shannon entropy for a generic `key=`
value), in the spirit of detect-secrets / gitleaks rules and Presidio's pattern recognizers, without their NLP
models. label = the kinds found ("none" when clean), score = the number of spans; evidence = each span's field,
offsets, kind and a masked preview (never the value itself), plus the redacted text of each field with a span,
so `decide` can redact (`[EMAIL]`, `[PHONE]`...) or reject without the row. A conversation's redaction is the
whole `messages` list as JSON text (edits key "messages").
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from curation.operations.base import Decision, Operation, RowText, Signal, register, row_fields

_END = r"(?![A-Za-z0-9_-])"
# Earlier kinds win where spans overlap (a key is not also a phone number).
PATTERNS: dict[str, re.Pattern[str]] = {
    "aws_key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "github_token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    "openai_key": re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}" + _END),
    "slack_token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}" + _END),
    "secret": re.compile(
        r"(?i)\b(?:api[_-]?key|secret(?:[_-]?key)?|client[_-]?secret|access[_-]?token|auth[_-]?token|token|"
        r"password|passwd)[\"']?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9/+_\-.=]{16,})"
    ),
    "card": re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    "ipv6": re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"),
    "ipv4": re.compile(
        r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)"
    ),
    "phone": re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
        r"|(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4})(?!\w)"
    ),
}
KINDS = tuple(PATTERNS)
_ISSUER = re.compile(
    r"4|5[1-5]|2[2-7]|3[0478]|3[5-9]|6(?:011|22|4[4-9]|5)"
)  # Visa, Mastercard, Amex, Diners, JCB, Discover
ACTIONS = ("redact", "reject")


def luhn(digits: str) -> bool:
    """The Luhn checksum of a card number (every second digit from the right doubled)."""
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(map(int, digits[::-1])))
    return total % 10 == 0


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    return -sum(c / len(text) * math.log2(c / len(text)) for c in Counter(text).values()) if text else 0.0


def _valid(kind: str, value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if kind == "card":  # a card issuer's prefix, groups of 4 (or Amex/Diners 4-6-n) when spaced, and Luhn
        groups = [len(g) for g in re.split(r"[ -]", value)]
        spaced_ok = len(groups) == 1 or (groups[0] == 4 and max(groups) <= 6)
        return 13 <= len(digits) <= 19 and bool(_ISSUER.match(digits)) and spaced_ok and luhn(digits)
    if kind == "ipv6":  # one group of 3+ hex digits keeps "a::b" (code) out; ipaddress does the rest
        try:
            return max(map(len, value.split(":"))) >= 3 and bool(ipaddress.IPv6Address(value))
        except ValueError:
            return False
    if kind == "secret":
        return entropy(value) >= 3.5
    return kind != "phone" or 8 <= len(digits) <= 15


def find_spans(text: str, kinds: Sequence[str] = KINDS) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every finding, without overlaps, in text order."""
    taken: list[tuple[int, int, str]] = []
    for kind in kinds:
        for m in PATTERNS[kind].finditer(text):
            start, end = m.span("value") if kind == "secret" else m.span()
            if _valid(kind, text[start:end]) and all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, kind))
    return sorted(taken)


def mask(value: str) -> str:
    """A preview that cannot give the value away: two characters each end at most."""
    return value[:2] + "*" * min(len(value) - 4, 8) + value[-2:] if len(value) > 8 else "*" * len(value)


def redact(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """The text with each span replaced by its kind's placeholder, e.g. [EMAIL]."""
    for start, end, kind in sorted(spans, reverse=True):
        text = text[:start] + f"[{kind.upper()}]" + text[end:]
    return text


class Pii(Operation):
    name = "pii"
    title = "PII and secrets"
    description = "e-mails, phones, IP addresses, card numbers (Luhn), API keys; redact or reject"
    score_range = None  # the score is the number of spans found
    defaults: Mapping[str, Any] = {"kinds": list(KINDS), "action": "redact"}

    def check_params(self, params: Mapping[str, Any]) -> None:
        kinds = params["kinds"]
        if not isinstance(kinds, (list, tuple)) or not kinds or set(kinds) - set(KINDS):
            raise ValueError(f"pii: kinds must be a non-empty list among {KINDS}; got {kinds!r}")
        if params["action"] not in ACTIONS:
            raise ValueError(f"pii: action must be one of {ACTIONS}; got {params['action']!r}")

    def score(self, rows: Sequence[RowText], params: Mapping[str, Any]) -> list[Signal]:
        kinds = [k for k in KINDS if k in params["kinds"]]
        signals = []
        for row in rows:
            spans, redacted = [], {}
            for field, text in row_fields(row):
                found = find_spans(text, kinds)
                spans += [
                    {"field": field, "start": s, "end": e, "kind": k, "masked": mask(text[s:e])} for s, e, k in found
                ]
                if found:
                    redacted[field] = redact(text, found)
            if any(f.startswith("messages[") for f in redacted):
                turns = [dict(t) for t in row.messages or []]
                for field in [f for f in redacted if f.startswith("messages[")]:
                    turns[int(field[9:-1])]["content"] = redacted.pop(field)
                redacted["messages"] = json.dumps(turns, ensure_ascii=False)
            label = ",".join(sorted({s["kind"] for s in spans})) or "none"
            signals.append(Signal(row.id, float(len(spans)), label, {"spans": spans, "redacted": redacted}))
        return signals

    def decide(self, signals: Sequence[Signal], params: Mapping[str, Any]) -> list[Decision]:
        decisions = []
        for s in signals:
            if not s.evidence.get("spans"):
                continue
            reason = f"pii: {s.label} ({len(s.evidence['spans'])} span(s))"
            if params["action"] == "reject":
                decisions.append(Decision(s.id, reason, status="rejected"))
            else:
                decisions.append(Decision(s.id, reason + " redacted", edits=dict(s.evidence["redacted"])))
        return decisions


register(Pii())
