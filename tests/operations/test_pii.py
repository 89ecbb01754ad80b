"""PII and secrets: hand-written findings per kind, masking, redaction edits, hostile rows, params, decisions."""

from __future__ import annotations

import json

import pytest

from curation.operations import base
from curation.operations.pii import Pii, entropy, find_spans, luhn, mask

OP = Pii()
GITHUB = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"  # 36 characters after the prefix


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Mail john@example.com now", [("john@example.com", "email")]),
        ("Call +44 20 7946 0958 today", [("+44 20 7946 0958", "phone")]),
        ("Call (415) 555-0123 or 415-555-0199.", [("(415) 555-0123", "phone"), ("415-555-0199", "phone")]),
        ("Host 10.0.0.255, not 10.0.0.256 or 1.2.3.4.5", [("10.0.0.255", "ipv4")]),
        ("IPv6 2001:db8::ff00:42:8329 at 10:30:45; std::vector and a::b", [("2001:db8::ff00:42:8329", "ipv6")]),
        ("Pay 4111-1111-1111-1111 or 4111 1111 1111 1112", [("4111-1111-1111-1111", "card")]),
        ("Amex 3782 822463 10005; bits 01010100 01110011", [("3782 822463 10005", "card")]),
        ("Key AKIAIOSFODNN7EXAMPLE here", [("AKIAIOSFODNN7EXAMPLE", "aws_key")]),
        (f"token: {GITHUB}", [(GITHUB, "github_token")]),
        (
            "export OPENAI_API_KEY=sk-proj-abcDEF1234567890ghijKLMN",
            [("sk-proj-abcDEF1234567890ghijKLMN", "openai_key")],
        ),
        ("hook xoxb-1234567890-abcdefghij", [("xoxb-1234567890-abcdefghij", "slack_token")]),
        ("client_secret: 9fA3kL0qZ7xW2mN8bV4cT6yH", [("9fA3kL0qZ7xW2mN8bV4cT6yH", "secret")]),
        ('password = "hunter2" and api_key = aaaaaaaaaaaaaaaaaaaa', []),  # too short; too little entropy
        ("请联系 zhang.wei@example.cn 谢谢", [("zhang.wei@example.cn", "email")]),
        ("The year 2023-01-15 had 365 days and version 1.2.3", []),
    ],
)
def test_findings_by_kind(text: str, found: list[tuple[str, str]]) -> None:
    assert [(text[s:e], kind) for s, e, kind in find_spans(text)] == found


def test_luhn_entropy_and_mask() -> None:
    assert (luhn("4111111111111111"), luhn("4111111111111112"), luhn("79927398713")) == (True, False, True)
    assert entropy("aaaa") == 0.0
    assert entropy("abcd") == 2.0
    assert mask("john@example.com") == "jo********om"
    assert mask("secret12") == "********"


def test_score_gives_masked_spans_and_the_redacted_fields() -> None:
    row = base.RowText(1, 3, "Mail john@example.com now", output="Call 415-555-0123 or mail john@example.com")
    [signal] = OP.score([row], OP.params())
    assert (signal.label, signal.score) == ("email,phone", 3.0)
    assert signal.evidence["spans"] == [
        {"field": "instruction", "start": 5, "end": 21, "kind": "email", "masked": "jo********om"},
        {"field": "output", "start": 5, "end": 17, "kind": "phone", "masked": "41********23"},
        {"field": "output", "start": 26, "end": 42, "kind": "email", "masked": "jo********om"},
    ]
    assert "john@example.com" not in json.dumps(signal.evidence)
    [decision] = OP.decide([signal], OP.params())
    assert decision.edits == {"instruction": "Mail [EMAIL] now", "output": "Call [PHONE] or mail [EMAIL]"}
    assert (decision.status, decision.reason) == (None, "pii: email,phone (3 span(s)) redacted")


def test_a_conversation_is_redacted_as_its_whole_messages_list() -> None:
    turns = [
        {"role": "user", "content": "My key is AKIAIOSFODNN7EXAMPLE"},
        {"role": "assistant", "content": "Please rotate it."},
    ]
    [signal] = OP.score([base.RowText(2, 1, "", messages=turns)], OP.params())
    assert signal.evidence["spans"][0] == {
        "field": "messages[0]",
        "start": 10,
        "end": 30,
        "kind": "aws_key",
        "masked": "AK********LE",
    }
    [decision] = OP.decide([signal], OP.params())
    assert json.loads(decision.edits["messages"]) == [
        {"role": "user", "content": "My key is [AWS_KEY]"},
        {"role": "assistant", "content": "Please rotate it."},
    ]
    assert turns[0]["content"] == "My key is AKIAIOSFODNN7EXAMPLE"  # the row's own turns are not changed


def test_clean_empty_and_huge_rows() -> None:
    rows = [
        base.RowText(1, 1, "Name three colours."),
        base.RowText(2, 1, ""),
        base.RowText(3, 1, "word " * 200_000 + "x@y.io"),
    ]
    signals = OP.score(rows, OP.params())
    assert [(s.label, s.score) for s in signals] == [("none", 0.0), ("none", 0.0), ("email", 1.0)]
    assert signals[2].evidence["spans"][0]["start"] == 1_000_000
    assert OP.decide(signals[:2], OP.params()) == []


def test_kinds_limit_the_search_and_reject_is_a_status() -> None:
    row = base.RowText(1, 1, "Mail john@example.com from 10.0.0.1")
    [signal] = OP.score([row], OP.params({"kinds": ["ipv4"], "action": "reject"}))
    assert signal.label == "ipv4"
    [decision] = OP.decide([signal], OP.params({"action": "reject"}))
    assert (decision.status, decision.edits, decision.reason) == ("rejected", {}, "pii: ipv4 (1 span(s))")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"kinds": []}, "kinds must be a non-empty list"),
        ({"kinds": ["ssn"]}, "kinds must be a non-empty list"),
        ({"action": "mask"}, "action must be one of"),
    ],
)
def test_bad_parameters_are_refused_with_the_rule(given: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OP.params(given)
