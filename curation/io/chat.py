"""Chat conversations: read the OpenAI and ShareGPT layouts into one stored form, check turn order, write them back.

The stored form (a row's `messages`) is OpenAI's: turns `{"role": system|user|assistant|tool, "content": str}`,
an assistant turn may carry `reasoning_content` and `tool_calls` (`[{"id", "type": "function", "function":
{"name", "arguments": JSON text}}]`), a tool turn `tool_call_id` (and `name`). Any other key of a turn is kept as
written. A row's tool schemas are stored apart (`tools`, a JSON list).

Read as well:
- typed content parts `[{"type": "text", "text"}, {"type": "reasoning" | "thinking", ...}]`: the text parts joined
  become `content`, the reasoning parts `reasoning_content`;
- ShareGPT (`conversations`, `from` / `value`; LLaMA-Factory's data/README): `human`, `gpt`, `system`,
  `function_call` (value: JSON `{"name", "arguments"}` or a list of them) and `observation`, plus the top-level
  `system` and `tools` (a JSON string) fields.

ShareGPT cannot say everything the stored form can; the writer keeps the rest in keys LLaMA-Factory ignores, so a
re-import gives the same conversation: call ids inside the `function_call` objects, `tool_call_id` /
`reasoning_content` on the turn, the text an assistant wrote beside its calls in `text`, and several tool results
answering one `function_call` turn as one observation (value: a JSON list of the results) with the turns in
`tool_turns`.

Order rules (the same for both layouts): an optional system turn first; then user, assistant, user, ...; an
assistant turn with tool calls is followed by tool turns answering those calls (matched by id when the turn has
one), then by an assistant turn; a conversation ends with an assistant reply or a user turn (a prompt to answer).
"""

from __future__ import annotations

import json
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
    "function_call": "function_call",
}
SHAREGPT_ROLE = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}
_KNOWN_TURN_KEYS = ("role", "from", "content", "value", "reasoning_content", "reasoning", "tool_calls", "tool_call_id")
_REASONING_PARTS = ("reasoning", "thinking")
SHAREGPT_EXTRA = ("text", "tool_turns")  # keys the ShareGPT writer adds to turns (see the module docstring)


class ChatError(ValueError):
    """A conversation broke a rule; the message names the turn (`messages[i]`) and the rule."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _arguments(value: Any, where: str) -> str:
    """Tool-call arguments as JSON text: a string must hold JSON, an object is written as JSON."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError as err:
            raise ChatError(f"{where} arguments are not valid JSON ({err}); write them as a JSON object") from None
        return value
    if isinstance(value, dict):
        return _dumps(value)
    raise ChatError(f"{where} arguments must be a JSON object or JSON text; got {type(value).__name__}")


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ChatError(f"{where} needs a function name (a non-empty string)")
    return value


def _openai_call(call: Any, where: str) -> dict[str, Any]:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise ChatError(f"{where} must be an object with 'function': {{'name', 'arguments'}}")
    if call.get("id") is not None and not isinstance(call["id"], str):
        raise ChatError(f"{where} id must be a string")
    function = dict(call["function"])
    function["name"] = _name(function.get("name"), where)
    function["arguments"] = _arguments(function.get("arguments", "{}"), where)
    return {**call, "function": function}


def _sharegpt_calls(value: str, where: str) -> list[dict[str, Any]]:
    """A ShareGPT `function_call` value (JSON: one {"name", "arguments"} object or a list) as stored tool calls."""
    try:
        parsed = json.loads(value)
    except ValueError as err:
        why = f"{where} function_call value is not valid JSON ({err})"
        raise ChatError(f"{why}; write {{'name', 'arguments'}}") from None
    calls = parsed if isinstance(parsed, list) else [parsed]
    out = []
    for k, call in enumerate(calls):
        at = f"{where} call {k}"
        if not isinstance(call, dict):
            raise ChatError(f"{at} must be an object {{'name', 'arguments'}}")
        extra = {key: v for key, v in call.items() if key not in ("name", "arguments", "id")}
        arguments = call.get("arguments", {})
        stored = {"type": "function", "function": {"name": _name(call.get("name"), at)}}
        stored["function"]["arguments"] = _arguments(arguments, at)
        if call.get("id") is not None:
            if not isinstance(call["id"], str):
                raise ChatError(f"{at} id must be a string")
            stored = {"id": call["id"], **stored}
        if isinstance(arguments, str):
            extra["arguments_text"] = True  # written back as text, not as an object
        out.append(stored | extra)
    return out


def _content(turn: dict[str, Any], where: str) -> tuple[str, str | None]:
    """(text, reasoning from typed parts) of a turn's `content` / `value`."""
    content = turn.get("content", turn.get("value"))
    if content is None:
        return "", None
    if isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        raise ChatError(f"{where} content must be a string or a list of typed parts; got {type(content).__name__}")
    texts, reasoning = [], []
    for k, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        value = None
        if kind == "text":
            value = part.get("text")
        elif kind in _REASONING_PARTS:
            value = next((part[x] for x in (kind, "text") if isinstance(part.get(x), str)), None)
        if not isinstance(value, str):
            raise ChatError(
                f"{where} content[{k}] must be a text or reasoning part with a string "
                f"(type {kind!r} is not read; supported: text, reasoning, thinking)"
            )
        (texts if kind == "text" else reasoning).append(value)
    return "".join(texts), "".join(reasoning) if reasoning else None


def _reasoning(turn: dict[str, Any], where: str) -> str | None:
    for key in ("reasoning_content", "reasoning"):
        value = turn.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ChatError(f"{where} '{key}' must be a string; got {type(value).__name__}")
        return value
    return None


def read_turn(turn: Any, index: int) -> list[dict[str, Any]]:
    """One raw turn (either layout) as stored turns (a ShareGPT observation with `tool_turns` gives several)."""
    where = f"messages[{index}]"
    if not isinstance(turn, dict):
        raise ChatError(f"{where} must be an object")
    raw_role = turn.get("role", turn.get("from"))
    role = ROLE_ALIASES.get(str(raw_role).lower()) if isinstance(raw_role, str) else None
    if role is None:
        raise ChatError(
            f"{where} has role {raw_role!r}; use system, user, assistant or tool "
            "(ShareGPT: system, human, gpt, function_call, observation)"
        )
    if role == "tool" and isinstance(turn.get("tool_turns"), list):
        return [read_turn({"role": "tool", **t}, index)[0] for t in turn["tool_turns"]]
    text, part_reasoning = _content(turn, where)
    reasoning = _reasoning(turn, where)
    if part_reasoning is not None and reasoning is not None:
        raise ChatError(f"{where} has reasoning both as a content part and as a field; keep one")
    reasoning = reasoning if reasoning is not None else part_reasoning
    extra = {k: v for k, v in turn.items() if k not in _KNOWN_TURN_KEYS and k not in SHAREGPT_EXTRA}
    out: dict[str, Any] = {"role": "assistant" if role == "function_call" else role, "content": text}
    if role == "function_call":
        out["content"] = turn.get("text") if isinstance(turn.get("text"), str) else ""
        out["tool_calls"] = _sharegpt_calls(text, where)
    elif turn.get("tool_calls") is not None:
        calls = turn["tool_calls"]
        if out["role"] != "assistant" or not isinstance(calls, list):
            raise ChatError(f"{where} tool_calls must be a list, on an assistant turn")
        out["tool_calls"] = [_openai_call(c, f"{where} tool_calls[{k}]") for k, c in enumerate(calls)]
    if reasoning is not None:
        if out["role"] != "assistant":
            raise ChatError(f"{where} reasoning is only read on assistant turns; this is a {out['role']} turn")
        out["reasoning_content"] = reasoning
    if turn.get("tool_call_id") is not None:
        if out["role"] != "tool" or not isinstance(turn["tool_call_id"], str):
            raise ChatError(f"{where} tool_call_id must be a string, on a tool turn")
        out["tool_call_id"] = turn["tool_call_id"]
    return [out | extra]


def check_order(turns: list[dict[str, Any]]) -> None:
    """Raise ChatError naming the first turn out of order (see the module docstring for the rules)."""
    if not turns:
        raise ChatError("the conversation has no turns")
    previous: dict[str, Any] | None = None
    open_calls: list[str | None] = []
    for i, turn in enumerate(turns):
        role, where = turn["role"], f"messages[{i}]"
        before = "the start" if previous is None else previous["role"]
        if role == "system" and i != 0:
            raise ChatError(f"{where} is a system turn after {before}; the system prompt must be the first turn")
        if role == "user" and previous is not None and previous["role"] not in ("system", "assistant"):
            raise ChatError(f"{where} is a user turn after a {before} turn; the assistant must answer first")
        if role == "user" and previous is not None and previous.get("tool_calls"):
            raise ChatError(f"{where} is a user turn right after tool calls; the tool results must come first")
        if role == "assistant" and (previous is None or previous["role"] not in ("user", "tool")):
            raise ChatError(f"{where} is an assistant turn after {before}; it must follow a user turn or a tool result")
        if role == "tool":
            if previous is None or not (previous.get("tool_calls") or previous["role"] == "tool") or not open_calls:
                raise ChatError(f"{where} is a tool result without its call (no open tool call before it)")
            wanted = turn.get("tool_call_id")
            if wanted is not None and wanted not in open_calls:
                raise ChatError(f"{where} answers tool call {wanted!r}, which no open tool call has as id")
            open_calls.remove(wanted if wanted is not None else open_calls[0])
        if role == "assistant":
            open_calls = [c.get("id") for c in turn.get("tool_calls") or []]
        previous = turn
    if "user" not in [t["role"] for t in turns]:
        raise ChatError("the conversation has no user turn")
    last = turns[-1]
    if last["role"] in ("tool", "system") or last.get("tool_calls"):
        why = "a tool result" if last["role"] == "tool" else "tool calls" if last.get("tool_calls") else "system"
        where = f"messages[{len(turns) - 1}]"
        raise ChatError(f"{where}: the conversation ends with {why}; the assistant's reply is missing")


def read_tools(value: Any) -> list[dict[str, Any]] | None:
    """A row's `tools` (a JSON list, or a JSON string of one as LLaMA-Factory writes it), or None when empty."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise ChatError(f"field 'tools' is not valid JSON ({err}); write a JSON list of function schemas") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ChatError("field 'tools' must be a list of function schemas (objects)")
    for k, tool in enumerate(value):
        function = tool.get("function") if tool.get("type") == "function" else tool
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ChatError(f"field 'tools' item {k} needs a 'name' (or 'function': {{'name', ...}})")
    return value or None


def read_conversation(record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(stored turns, tools) of a row in either layout; raises ChatError naming the turn and the rule."""
    raw = record.get("messages", record.get("conversations"))
    if not isinstance(raw, list) or not raw:
        raise ChatError("missing required field 'messages' (or ShareGPT 'conversations'): a list of turns")
    turns = [t for index, turn in enumerate(raw) for t in read_turn(turn, index)]
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        raise ChatError(f"field 'system' must be a string; got {type(system).__name__}")
    if system:
        turns.insert(0, {"role": "system", "content": system})
    check_order(turns)
    return turns, read_tools(record.get("tools"))


ROW_KEYS = ("messages", "conversations", "system", "tools")


def is_chat_record(record: Any) -> bool:
    """True for a row in a chat layout (a `messages` / `conversations` list and no `instruction`)."""
    return (
        isinstance(record, dict)
        and "instruction" not in record
        and isinstance(record.get("messages", record.get("conversations")), list)
    )


# -- writing ---------------------------------------------------------------------------------------------------
def to_openai(turns: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    """`{"messages", "tools"?}` in OpenAI's layout (bare function schemas get the `{"type": "function"}` wrapper)."""
    out: dict[str, Any] = {"messages": [dict(t) for t in turns]}
    if tools:
        out["tools"] = [t if t.get("type") == "function" else {"type": "function", "function": t} for t in tools]
    return out


def _call_object(call: dict[str, Any]) -> dict[str, Any]:
    function = call["function"]
    arguments = function["arguments"]
    extra = {k: v for k, v in call.items() if k not in ("id", "type", "function", "arguments_text")}
    as_object = not call.get("arguments_text")
    if as_object:
        parsed = json.loads(arguments)
        as_object = isinstance(parsed, dict) and _dumps(parsed) == arguments
    head = {"name": function["name"], "arguments": json.loads(arguments) if as_object else arguments}
    if call.get("type", "function") != "function":
        extra["type"] = call["type"]
    return head | ({"id": call["id"]} if call.get("id") is not None else {}) | extra


def _sharegpt_turn(turn: dict[str, Any]) -> dict[str, Any]:
    extra = {k: v for k, v in turn.items() if k not in ("role", "content", "tool_calls")}
    if turn.get("tool_calls"):
        calls = [_call_object(c) for c in turn["tool_calls"]]
        value = _dumps(calls[0] if len(calls) == 1 else calls)
        text = {"text": turn["content"]} if turn["content"] else {}
        return {"from": "function_call", "value": value} | text | extra
    return {"from": SHAREGPT_ROLE[turn["role"]], "value": turn["content"]} | extra


def to_sharegpt(turns: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    """`{"conversations", "system"?, "tools"?}` as LLaMA-Factory reads ShareGPT (see the module docstring)."""
    out: dict[str, Any] = {}
    rest = list(turns)
    if rest and rest[0]["role"] == "system" and set(rest[0]) == {"role", "content"} and rest[0]["content"]:
        out["system"] = rest.pop(0)["content"]
    conversation: list[dict[str, Any]] = []
    i = 0
    while i < len(rest):
        j = i
        while j < len(rest) and rest[j]["role"] == "tool":
            j += 1
        if j - i > 1:  # several results of one call turn: one observation, so human/gpt slots still alternate
            group = rest[i:j]
            conversation.append(
                {
                    "from": "observation",
                    "value": _dumps([t["content"] for t in group]),
                    "tool_turns": [{k: v for k, v in t.items() if k != "role"} for t in group],
                }
            )
            i = j
            continue
        conversation.append(_sharegpt_turn(rest[i]))
        i += 1
    out = {"conversations": conversation} | out
    if tools:
        out["tools"] = _dumps(tools)
    return out


# -- views ---------------------------------------------------------------------------------------------------
def first_exchange(turns: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    """(first user text, first assistant reply text after it, that reply turn) — a chat row's instruction / output."""
    first_user = next(i for i, t in enumerate(turns) if t["role"] == "user")
    reply = next((t for t in turns[first_user + 1 :] if t["role"] == "assistant"), {})
    return turns[first_user]["content"], reply.get("content", ""), reply


def user_texts(turns: list[dict[str, Any]]) -> list[str]:
    return [t["content"] for t in turns if t["role"] == "user"]


def whole_text(turns: list[dict[str, Any]]) -> str:
    """Every turn as `role: text` lines (tool calls as name(arguments)), for dedup and search."""
    lines = []
    for turn in turns:
        lines.append(f"{turn['role']}: {turn['content']}")
        for call in turn.get("tool_calls") or []:
            lines.append(f"call: {call['function']['name']}({call['function']['arguments']})")
    return "\n".join(lines)


def parse_stored(value: Any) -> list[dict[str, Any]] | None:
    """A stored `messages` value (JSON text or list) as a list of turns, or None."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else None
    return list(value) if value else None


# -- editing -------------------------------------------------------------------------------------------------
def dumps_turns(turns: list[dict[str, Any]] | None) -> str | None:
    """Stored text of a conversation or tool list (the importer's encoding, so an unchanged value compares equal)."""
    return None if not turns else _dumps(turns)


def edit_changes(turns: list[dict[str, Any]], tools: Any) -> dict[str, Any]:
    """Field changes for an edited conversation: messages, tools and the instruction / output it implies.

    Every turn is read again as on import (so arguments must be JSON, roles known) and the order rules apply;
    raises ChatError naming the turn and the rule.
    """
    checked = [t for index, turn in enumerate(turns) for t in read_turn(turn, index)]
    check_order(checked)
    instruction, output, _ = first_exchange(checked)
    return {
        "messages": dumps_turns(checked),
        "tools": dumps_turns(read_tools(tools)),
        "instruction": instruction,
        "input": "",
        "output": output,
    }


def _turn_lines(turn: dict[str, Any]) -> list[str]:
    lines = [f"[{turn.get('role')}]", *str(turn.get("content", "")).split("\n")]
    if turn.get("reasoning_content"):
        lines += ["(reasoning)", *turn["reasoning_content"].split("\n")]
    for call in turn.get("tool_calls") or []:
        function = call.get("function", {})
        lines.append(f"(call {call.get('id') or ''}) {function.get('name')}({function.get('arguments')})")
    if turn.get("tool_call_id"):
        lines.append(f"(answers {turn['tool_call_id']})")
    return lines


def conversation_diff(old: Any, new: Any) -> list[str]:
    """Per-turn differences between two stored conversations, e.g. 'turn 2 (assistant) changed: - old / + new'."""
    import difflib

    before, after = parse_stored(old) or [], parse_stored(new) or []
    out: list[str] = []
    keys_a = [_dumps(t) for t in before]
    keys_b = [_dumps(t) for t in after]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for i, j in zip(range(i1, i1 + paired), range(j1, j1 + paired), strict=True):
            diff = difflib.unified_diff(_turn_lines(before[i]), _turn_lines(after[j]), lineterm="", n=1)
            body = [line for line in diff if not line.startswith(("---", "+++", "@@"))]
            out.append(f"turn {j} ({after[j].get('role')}) changed:\n" + "\n".join(body))
        for i in range(i1 + paired, i2):
            out.append(f"turn {i} ({before[i].get('role')}) removed:\n- " + "\n- ".join(_turn_lines(before[i])))
        for j in range(j1 + paired, j2):
            out.append(f"turn {j} ({after[j].get('role')}) added:\n+ " + "\n+ ".join(_turn_lines(after[j])))
    return out
