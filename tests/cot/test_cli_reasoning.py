"""CLI parity for reasoning data: import reasoning_content / <think> rows, explain a score, check answers."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from curation import cli
from curation.store import Store

runner = CliRunner()
LINES = [
    {  # rationale agrees with the answer
        "messages": [
            {"role": "user", "content": "What is 6 * 7?"},
            {"role": "assistant", "content": "42", "reasoning_content": "6 * 7 = 42. So the answer is 42."},
        ]
    },
    {  # rationale concludes 41, answer says 42
        "messages": [
            {"role": "user", "content": "What is 6 * 7?"},
            {"role": "assistant", "content": "<think>\n6 * 7 = 41. So the answer is 41.\n</think>\n\n42"},
        ]
    },
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]},
]


def invoke(db: Path, *args: str):
    return runner.invoke(cli.app, ["--db", str(db), *args])


def test_import_explain_and_check(tmp_path: Path) -> None:
    data = tmp_path / "reasoning.jsonl"
    data.write_text("\n".join(json.dumps(x) for x in LINES) + "\n")
    db = tmp_path / "r.duckdb"
    imported = invoke(db, "import", str(data), "--format", "messages")
    assert imported.exit_code == 0, imported.output
    explained = invoke(db, "cot", "explain", "1", "--json")
    assert explained.exit_code == 0, explained.output
    detail = json.loads(explained.stdout)
    assert detail["score"] >= 0.5 and "reasoning_trace" in {s["name"] for s in detail["signals"]}
    assert "example 3: score" in invoke(db, "cot", "explain", "3").output
    checked = invoke(db, "cot", "check", "--json")
    report = json.loads(checked.stdout)
    assert (report["rows"], report["with_rationale"], report["conflict_count"]) == (3, 2, 1)
    assert report["conflicts"] == [{"id": 2, "answer": "42", "rationale_concludes": "41"}]
    assert report["rationale_words"]["max"] == 10
    text = invoke(db, "cot", "check")
    assert "2 of 3 rows have a rationale" in text.output and "1 rows: the rationale concludes" in text.output
    flagged = invoke(db, "cot", "check", "--tag")
    assert "tagged 1 rows 'answer-conflict'" in flagged.output
    store = Store(db)
    try:
        assert store.query_rows("SELECT example_id FROM example_tags WHERE tag = 'answer-conflict'") == [(2,)]
    finally:
        store.close()
    tagged = invoke(db, "cot", "tag", "--json")
    assert json.loads(tagged.stdout)["auto_tagged"] == 2  # both reasoning rows, not the greeting


def test_explain_unknown_row_is_a_one_line_error(tmp_path: Path) -> None:
    result = invoke(tmp_path / "e.duckdb", "cot", "explain", "99")
    assert result.exit_code == 1 and "error: no example with id 99" in result.output


def test_explain_names_each_signal_and_what_it_means(tmp_path: Path) -> None:
    data = tmp_path / "premises.jsonl"
    turns = [
        {"role": "user", "content": "Where would you keep milk so that it stays fresh for a week?"},
        {
            "role": "assistant",
            "content": "Milk spoils quickly at room temperature. Cold temperatures slow the growth of the bacteria "
            "that spoil it. A refrigerator keeps food cold.",
        },
    ]
    data.write_text(json.dumps({"messages": turns}) + "\n")
    db = tmp_path / "p.duckdb"
    assert invoke(db, "import", str(data), "--format", "messages").exit_code == 0
    detail = json.loads(invoke(db, "cot", "explain", "1", "--json").stdout)
    linked = next(s for s in detail["signals"] if s["name"] == "linked_premises")
    assert detail["score"] >= 0.5 and linked["weight"] == 0.5
    assert linked["why"].startswith("premises linked sentence to sentence")
    text = invoke(db, "cot", "explain", "1").output
    assert "linked_premises" in text and "premises linked sentence to sentence" in text
