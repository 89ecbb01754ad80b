"""Property: a conversation (system prompt, tool calls with nested JSON arguments, tool results, reasoning, unicode,
empty strings, unknown row fields) survives import -> export -> import in every export format, exactly."""

from __future__ import annotations

import io
import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.filters import ExampleFilter
from curation.io import chat, export, importers
from curation.store import Store

TRICKY = ["\u2028", "\x85", "\x00", "\r\n", "\n", '"', "\\", "😀", "👩‍👩‍👧", "שלום", "<think>", "{", "]"]
pieces = st.one_of(st.sampled_from(TRICKY), st.text(st.characters(exclude_categories=["Cs"]), max_size=8))
texts = st.lists(pieces, max_size=4).map("".join)
words = st.text("abcxyz_", min_size=1, max_size=6)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(words, inner, max_size=3)),
    max_leaves=8,
)
arguments = st.one_of(
    st.dictionaries(words, json_values, max_size=4).map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.dictionaries(words, json_values, max_size=3).map(lambda v: json.dumps(v, separators=(",", ":"))),
)


@st.composite
def tool_round(draw: st.DrawFn, turn_no: int) -> list[dict]:
    """An assistant turn calling 1-2 tools (ids or none), their results, then the assistant's reply."""
    n = draw(st.integers(1, 2))
    with_ids = draw(st.booleans())
    calls = [
        {**({"id": f"call_{turn_no}_{k}"} if with_ids else {}), "type": "function"}
        | {"function": {"name": draw(words), "arguments": draw(arguments)}}
        for k in range(n)
    ]
    turns = [{"role": "assistant", "content": draw(texts), "tool_calls": calls}]
    answered = draw(st.integers(1, n))
    for call in calls[:answered]:
        turns.append({"role": "tool", "content": draw(texts), **({"tool_call_id": call["id"]} if with_ids else {})})
    return [*turns, draw(reply())]


@st.composite
def reply(draw: st.DrawFn) -> dict:
    reasoning = draw(st.one_of(st.none(), texts))
    return {"role": "assistant", "content": draw(texts)} | (
        {} if reasoning is None else {"reasoning_content": reasoning}
    )


@st.composite
def conversation(draw: st.DrawFn) -> dict:
    turns: list[dict] = []
    if draw(st.booleans()):
        turns.append({"role": "system", "content": draw(texts)})
    for k in range(draw(st.integers(1, 3))):
        turns.append({"role": "user", "content": draw(texts)})
        turns += draw(tool_round(k)) if draw(st.booleans()) else [draw(reply())]
    if draw(st.booleans()):
        turns.append({"role": "user", "content": draw(texts)})  # a last prompt without a reply
    tools = draw(
        st.one_of(
            st.none(),
            st.lists(
                st.fixed_dictionaries({"name": words, "description": texts, "parameters": json_values}),
                min_size=1,
                max_size=2,
            ),
        )
    )
    reserved = {*chat.ROW_KEYS, "task", "task_cluster", "tags", "instruction", "id"}
    keys = st.one_of(words.filter(lambda w: w not in reserved), st.sampled_from(["answer", "rationale"]))
    extras = draw(st.dictionaries(keys, json_values, max_size=3))  # a field may share a derived key's name
    return {
        "turns": turns,
        "tools": tools,
        "fields": {"id": draw(texts), **extras},
        "task": draw(st.one_of(st.none(), texts.filter(bool))),
        "tags": draw(st.lists(texts.filter(bool), max_size=2, unique=True)),
    }


def file_for(fmt: str, convs: list[dict]) -> tuple[bytes, str, str]:
    """(bytes, file name, import format) of the generated conversations written in an export format's layout."""
    if fmt == "parquet":
        frame = pd.DataFrame(
            {
                "instruction": [chat.first_exchange(c["turns"])[0] for c in convs],
                "messages": [json.dumps(c["turns"], ensure_ascii=False) for c in convs],
                "tools": [None if c["tools"] is None else json.dumps(c["tools"]) for c in convs],
                "task": [c["task"] for c in convs],
                "tags": [c["tags"] for c in convs],
            }
        )
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue(), "c.parquet", "parquet"
    write = chat.to_openai if fmt == "messages" else chat.to_sharegpt
    rows = [c["fields"] | write(c["turns"], c["tools"]) | {"task": c["task"], "tags": c["tags"]} for c in convs]
    if fmt == "messages":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(), "c.jsonl", "messages"
    return json.dumps(rows, ensure_ascii=False, indent=1).encode(), "c.json", "messages"


KEYS = ("instruction", "input", "output", "messages", "tools", "meta", "task", "task_cluster", "tags")


def imported(store: Store, data: bytes, name: str, fmt: str) -> tuple[ExampleFilter, list[dict]]:
    source = name.rsplit(".", 1)[0]
    importers.import_bytes(store, data, name, fmt, source_name=source)
    only = ExampleFilter(sources=[source])
    rows = export.export_frame(store, only).to_dict("records")
    found = []
    for row in rows:
        item = {k: row[k] for k in KEYS}
        for key in ("messages", "tools", "meta"):
            item[key] = json.loads(item[key]) if isinstance(item[key], str) else None
        item["task"] = None if item["task"] is None or item["task"] != item["task"] else item["task"]
        item["task_cluster"] = None if item["task_cluster"] != item["task_cluster"] else item["task_cluster"]
        item["tags"] = sorted(item["tags"])
        found.append(item)
    return only, found


def round_trip(fmt: str, convs: list[dict]) -> tuple[list[dict], list[dict]]:
    data, name, import_fmt = file_for(fmt, convs)
    with Store(":memory:") as store:
        first, before = imported(store, data, name, import_fmt)
        exported, _ = export.build(store, first, fmt)
        _, after = imported(store, exported, f"again-{name}", import_fmt)
    return before, after


PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
convs = st.lists(conversation(), min_size=1, max_size=3, unique_by=lambda c: c["fields"]["id"])


@PROPERTY
@given(convs)
def test_openai_messages_round_trip_is_exact(generated: list[dict]) -> None:
    before, after = round_trip("messages", generated)
    assert after == before
    assert [r["messages"] for r in before] == [c["turns"] for c in generated]  # read as written
    assert [r["tools"] for r in before] == [chat.to_openai([], c["tools"]).get("tools") for c in generated]
    for row, conv in zip(before, generated, strict=True):  # every row field is kept (it wins over a derived one)
        assert row["meta"] == row["meta"] | conv["fields"]
        assert set(row["meta"]) - set(conv["fields"]) <= {"rationale", "answer"}


@PROPERTY
@given(convs)
def test_sharegpt_round_trip_is_exact(generated: list[dict]) -> None:
    before, after = round_trip("sharegpt", generated)
    assert after == before
    assert [[t["role"] for t in r["messages"]] for r in before] == [[t["role"] for t in c["turns"]] for c in generated]
    assert [[t["content"] for t in r["messages"]] for r in before] == [
        [t["content"] for t in c["turns"]] for c in generated
    ]


@PROPERTY
@given(convs)
def test_parquet_round_trip_is_exact(generated: list[dict]) -> None:
    before, after = round_trip("parquet", generated)
    strip = [{k: v for k, v in r.items() if k != "meta"} for r in before]  # Parquet keeps its own columns only
    assert [{k: v for k, v in r.items() if k != "meta"} for r in after] == strip
    assert [r["messages"] for r in before] == [c["turns"] for c in generated]
