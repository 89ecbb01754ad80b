"""Importers: one table-driven case per format, and a bad-input table that must leave the store untouched."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from curation import cli
from curation.io import importers
from curation.io import mapping as field_mapping
from curation.io.importers import InvalidInputError
from curation.store import Store, examples


def jsonl(*records: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi?"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Bye?"},
    {"role": "assistant", "content": "Bye."},
]

FORMAT_CASES = {
    "alpaca": (
        "a.json",
        json.dumps(
            [
                {"instruction": "Add 1 and 2.", "input": "", "output": "3", "tags": ["math"]},
                {"instruction": "Hi", "output": ""},
            ]
        ).encode(),
        None,
        [
            {"instruction": "Add 1 and 2.", "input": "", "output": "3", "tags": ["math"]},
            {"instruction": "Hi", "input": "", "output": "", "tags": []},
        ],
    ),
    "selfinstruct-seed": (
        "seed_tasks.jsonl",
        jsonl(
            {
                "id": "t0",
                "name": "parity",
                "instruction": "Even or odd?",
                "instances": [{"input": "2", "output": "Even"}, {"input": "3", "output": "Odd"}],
                "is_classification": True,
            },
            {"id": "t1", "name": "joke", "instruction": "Tell a joke.", "instances": [{"input": "", "output": "Ha."}]},
        ),
        None,
        [
            {
                "instruction": "Even or odd?",
                "input": "2",
                "output": "Even",
                "task": "parity",
                "is_classification": True,
            },
            {"instruction": "Even or odd?", "input": "3", "output": "Odd", "task": "parity", "is_classification": True},
            {"instruction": "Tell a joke.", "input": "", "output": "Ha.", "task": "joke", "is_classification": None},
        ],
    ),
    "jsonl": (
        "gen.jsonl",
        jsonl({"instruction": "Q1", "output": "A1", "task": "t", "task_cluster": "c"}, {"instruction": "Q2"}),
        None,
        [
            {"instruction": "Q1", "output": "A1", "task": "t", "task_cluster": "c"},
            {"instruction": "Q2", "output": "", "task": None, "task_cluster": None},
        ],
    ),
    "messages (OpenAI)": (
        "chat.jsonl",
        jsonl({"messages": CHAT}),
        None,
        [{"instruction": "Hi?", "output": "Hello.", "messages": CHAT}],
    ),
    "messages (ShareGPT)": (
        "share.jsonl",
        jsonl({"conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}]}),
        None,
        [
            {
                "instruction": "Q?",
                "output": "A.",
                "messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}],
            }
        ],
    ),
    "csv": (
        "sheet.csv",
        b'question,answer,note\nWhat is 2+2?,4,checked\n"Say ""hi""",hi,\n',
        {"instruction": "question", "output": "answer"},
        [
            {"instruction": "What is 2+2?", "output": "4", "meta": {"note": "checked"}},
            {"instruction": 'Say "hi"', "output": "hi", "meta": {"note": ""}},
        ],
    ),
    "parquet": (
        "table.parquet",
        parquet_bytes(pd.DataFrame({"prompt": ["P1", "P2"], "reply": ["R1", None], "tags": [["a", "b"], []]})),
        {"instruction": "prompt", "output": "reply", "tags": "tags"},
        [{"instruction": "P1", "output": "R1", "tags": ["a", "b"]}, {"instruction": "P2", "output": "", "tags": []}],
    ),
    "flan-cot-tsv": (
        "gsm8k_train.tsv",
        b"How many legs do 2 cats have?\t8\tA cat has 4 legs.\\n2 x 4 = 8.\n",
        None,
        [
            {
                "instruction": "How many legs do 2 cats have?",
                "output": "A cat has 4 legs.\n2 x 4 = 8. So the answer is 8.",
                "task": "gsm8k",
                "format": "cot",
            }
        ],
    ),
}


def stored_rows(store: Store) -> list[dict]:
    frame = examples.fetch(store)
    tags = examples.tags_for(store, frame["id"].tolist()).groupby("example_id")["tag"].agg(list).to_dict()
    rows = frame.to_dict("records")
    for row in rows:
        row["tags"] = tags.get(row["id"], [])
        for key in ("messages", "meta"):
            row[key] = json.loads(row[key]) if isinstance(row[key], str) else None
        row["is_classification"] = None if pd.isna(row["is_classification"]) else bool(row["is_classification"])
        for key in ("task", "task_cluster", "format"):
            row[key] = None if pd.isna(row[key]) else row[key]
    return rows


@pytest.mark.parametrize("case", list(FORMAT_CASES))
def test_each_format_imports_its_rows(store: Store, case: str) -> None:
    file_name, data, mapping, expected = FORMAT_CASES[case]
    fmt = case.split(" ")[0]
    result = importers.import_bytes(store, data, file_name, fmt, mapping=mapping, author="t")
    assert result.rows == len(expected)
    rows = stored_rows(store)
    assert [{k: row[k] for k in want} for row, want in zip(rows, expected, strict=True)] == expected
    source = examples.list_sources(store).iloc[0]
    assert (source["format"], source["file_name"], source["row_count"]) == (fmt, file_name, len(expected))
    assert len(source["sha256"]) == 64
    assert all(row["orig_instruction"] == row["instruction"] for row in rows)


def test_origin_defaults_and_override(store: Store) -> None:
    seed_file, seed_data, _, _ = FORMAT_CASES["selfinstruct-seed"]
    importers.import_bytes(store, seed_data, seed_file, "selfinstruct-seed")
    importers.import_bytes(store, jsonl({"instruction": "x"}), "g.jsonl", "jsonl", origin="generated")
    assert examples.counts_by(store, "origin").to_dict("records") == [
        {"value": "seed", "count": 3},
        {"value": "generated", "count": 1},
    ]


BIG = "x" * 1_000_001
ROW_OBJ = b'{"instruction": "i", "output": "o"}'
ROW = b"[" + b",".join([ROW_OBJ] * 3) + b"]"
DEEP = b"[" * 1200 + b"]" * 1200
BLOB_PARQUET = parquet_bytes(pd.DataFrame({"instruction": ["a"], "blob": [b"\x00"]}))
SEED_INT_NAME = jsonl({"instruction": "x", "name": 3, "instances": [{"output": "y"}]})
BAD_INPUTS = [
    # (id, file name, format, bytes, mapping, substrings the first error must contain)
    ("malformed jsonl", "a.jsonl", "jsonl", b'{"instruction": "ok"}\n{"instruction": "broken"\n', None,
     ["line 2", "malformed JSON"]),
    ("malformed alpaca", "a.json", "alpaca", b'[\n{"instruction": "ok", "output": ""},\n{"instruction": oops}\n]', None,
     ["line 3", "malformed JSON"]),
    ("not an array", "a.json", "alpaca", b'{"instruction": "x"}', None, ["line 1", "JSON array"]),
    ("missing field", "a.jsonl", "jsonl", jsonl({"instruction": "ok"}, {"output": "no instruction"}), None,
     ["line 2", "missing required field 'instruction'"]),
    ("wrong type", "a.jsonl", "jsonl", jsonl({"instruction": "ok", "output": 42}), None,
     ["line 1", "'output' must be a string; got int"]),
    ("tags wrong type", "a.json", "alpaca", b'[{"instruction": "ok", "output": "", "tags": "math"}]', None,
     ["line 1", "'tags' must be a list of strings"]),
    ("not utf-8", "a.jsonl", "jsonl", b'{"instruction": "ok"}\n{"instruction": "caf\xe9"}\n', None,
     ["line 2", "not valid UTF-8", "0xe9"]),
    ("empty file", "a.jsonl", "jsonl", b"  \n", None, ["a.jsonl", "file is empty"]),
    ("empty parquet", "a.parquet", "parquet", b"", None, ["a.parquet", "file is empty"]),
    ("1 MB field", "a.jsonl", "jsonl", jsonl({"instruction": "ok"}, {"instruction": "ok", "output": BIG}), None,
     ["line 2", "'output' is 1,000,001 bytes", "INSTRUCT_CURATOR_MAX_FIELD_BYTES"]),
    ("duplicate ids", "a.jsonl", "jsonl", jsonl({"id": 7, "instruction": "a"}, {"id": 8, "instruction": "b"},
                                                 {"id": 7, "instruction": "c"}), None,
     ["line 3", "duplicate id '7'", "line 1"]),
    ("seed without instances", "s.jsonl", "selfinstruct-seed", jsonl({"instruction": "x", "instances": []}), None,
     ["line 1", "'instances' must be a non-empty list"]),
    ("chat without user", "c.jsonl", "messages", jsonl({"messages": [{"role": "assistant", "content": "hi"}]}), None,
     ["line 1 (row 0)", "messages[0] is an assistant turn after the start"]),
    ("chat bad role", "c.jsonl", "messages", jsonl({"messages": [{"role": "robot", "content": "hi"}]}), None,
     ["line 1 (row 0)", "messages[0] has role 'robot'; use system, user, assistant or tool"]),
    ("tsv field count", "x.tsv", "flan-cot-tsv", b"q\ta\tr\nonly two\tfields\n", None,
     ["line 2", "expected 3 tab-separated fields"]),
    ("csv bad mapping", "x.csv", "csv", b"q,a\nx,y\n", {"instruction": "question"},
     ["columns ['question'] not in the file", "['q', 'a']"]),
    ("csv empty instruction", "x.csv", "csv", b"q,a\nx,y\n,z\n", {"instruction": "q", "output": "a"},
     ["line 3", "'instruction' is empty"]),
    ("unknown format", "x.txt", "yaml", b"a: b", None, ["unknown format 'yaml'"]),
    ("second array after the first", "a.json", "alpaca", ROW + b"\n[" + b",".join([ROW_OBJ] * 1000) + b"]", None,
     ["line 2", "unexpected content after the end of the JSON array"]),
    ("object after the array", "a.json", "alpaca", b"[\n" + ROW_OBJ + b"\n],\n" + ROW_OBJ + b"]", None,
     ["line 3", "unexpected content after the end of the JSON array"]),
    ("trailing comma in array", "a.json", "alpaca", b"[" + ROW_OBJ + b",]", None, ["line 1 (row 1)", "malformed JSON"]),
    ("error names the row", "a.json", "alpaca", b"[\n" + ROW_OBJ + b",\n" + ROW_OBJ + b",\n{\"output\": \"x\"}\n]",
     None, ["line 4 (row 2)", "missing required field 'instruction'"]),
    ("alpaca missing output", "a.json", "alpaca", b'[{"instruction": "x", "input": ""}]', None,
     ["line 1 (row 0)", "missing required field 'output'", "allow rows without an output"]),
    ("alpaca null output", "a.json", "alpaca", b'[{"instruction": "x", "output": null}]', None,
     ["line 1 (row 0)", "missing required field 'output'"]),
    ("csv more fields than header", "x.csv", "csv", b"q,a\nx,y\nWhat, if anything?,no\n", {"instruction": "q"},
     ["line 3 (row 1)", "3 fields, but the header has 2"]),
    ("csv fewer fields than header", "x.csv", "csv", b"q,a,n\nx,y,z\n\"multi\nline\",b,c\nonly,two\n",
     {"instruction": "q"}, ["line 5 (row 2)", "2 fields, but the header has 3"]),
    ("deep JSON array", "d.json", "alpaca", b'[{"instruction": "x", "output": "", "m": ' + DEEP + b"}]", None,
     ["line 1 (row 0)", "nested too deeply"]),
    ("deep JSON line", "d.jsonl", "jsonl", jsonl({"instruction": "x"}) + b'{"instruction": "x", "m": ' + DEEP + b"}\n",
     None, ["line 2 (row 1)", "nested too deeply"]),
    ("lone surrogate jsonl", "s.jsonl", "jsonl", b'{"instruction": "a\\ud800"}\n', None,
     ["line 1 (row 0)", "field 'instruction'", "lone UTF-16 surrogate"]),
    ("lone surrogate alpaca", "s.json", "alpaca", b'[\n' + ROW_OBJ + b',\n{"instruction": "a", "output": "\\udc00"}]',
     None, ["line 3 (row 1)", "field 'output'", "lone UTF-16 surrogate"]),
    ("lone surrogate chat", "c.jsonl", "messages", b'{"messages": [{"role": "user", "content": "\\ud83d"}]}\n',
     None, ["line 1 (row 0)", "field 'messages[0].content'", "lone UTF-16 surrogate"]),
    ("binary parquet column", "b.parquet", "parquet", BLOB_PARQUET,
     None, ["column(s) ['blob'] hold binary data"]),
    ("binary parquet text", "b.parquet", "parquet", parquet_bytes(pd.DataFrame({"instruction": [b"a"]})),
     None, ["column(s) ['instruction'] hold binary data"]),
    ("parquet int task", "b.parquet", "parquet",
     parquet_bytes(pd.DataFrame({"instruction": ["a"], "output": ["b"], "task": [5]})), None,
     ["row 0", "field 'task' must be a string or null; got int"]),
    ("parquet int output", "b.parquet", "parquet", parquet_bytes(pd.DataFrame({"instruction": ["a"], "output": [4]})),
     None, ["row 0", "field 'output' must be a string; got int"]),
    ("jsonl int task", "a.jsonl", "jsonl", jsonl({"instruction": "a", "task": 5}), None,
     ["line 1 (row 0)", "field 'task' must be a string or null; got int"]),
    ("alpaca list cluster", "a.json", "alpaca", b'[{"instruction": "a", "output": "", "task_cluster": ["c"]}]',
     None, ["line 1 (row 0)", "field 'task_cluster' must be a string or null; got list"]),
    ("seed int name", "s.jsonl", "selfinstruct-seed", SEED_INT_NAME,
     None, ["line 1 (row 0)", "field 'name' must be a string or null; got int"]),
    ("chat int task", "c.jsonl", "messages", jsonl({"messages": CHAT, "task": 1.5}), None,
     ["line 1 (row 0)", "field 'task' must be a string or null; got float"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("file_name", "fmt", "data", "mapping", "expected"),
    [case[1:] for case in BAD_INPUTS],
    ids=[c[0] for c in BAD_INPUTS],
)
def test_bad_input_names_the_problem_and_leaves_the_store_unchanged(
    make_store, file_name: str, fmt: str, data: bytes, mapping: dict | None, expected: list[str]
) -> None:
    store = make_store([{"instruction": "existing 1"}, {"instruction": "existing 2"}])
    with pytest.raises(InvalidInputError) as err:
        importers.import_bytes(store, data, file_name, fmt, mapping=mapping)
    first = err.value.errors[0]
    assert first.startswith(file_name)
    for text in expected:
        assert text in first
    assert examples.count(store) == 2
    assert len(examples.list_sources(store)) == 1


def test_every_bad_line_is_reported_at_once(store: Store) -> None:
    data = jsonl({"instruction": "ok"}, {"output": "x"}, {"instruction": 1}, {"instruction": "ok"}, {"input": "y"})
    with pytest.raises(InvalidInputError) as err:
        importers.import_bytes(store, data, "many.jsonl", "jsonl")
    assert [e.split(":")[0] for e in err.value.errors] == [
        "many.jsonl line 2 (row 1)",
        "many.jsonl line 3 (row 2)",
        "many.jsonl line 5 (row 4)",
    ]
    assert "and 2 more problems" in str(err.value)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("data.json", "alpaca"),
        ("seed_tasks.jsonl", "selfinstruct-seed"),
        ("gen.jsonl", "jsonl"),
        ("x.CSV", "csv"),
        ("t.parquet", "parquet"),
        ("gsm8k_train.tsv", "flan-cot-tsv"),
        ("notes.txt", None),
    ],
)
def test_guess_format(name: str, fmt: str | None) -> None:
    assert importers.guess_format(name) == fmt


CLI_CASES = [case for case in BAD_INPUTS if case[2] in importers.FORMATS]


@pytest.mark.parametrize(
    ("file_name", "fmt", "data", "mapping", "expected"),
    [case[1:] for case in CLI_CASES],
    ids=[c[0] for c in CLI_CASES],
)
def test_cli_import_of_bad_input_is_one_line_exit_1_and_stores_nothing(
    tmp_path: Path, file_name: str, fmt: str, data: bytes, mapping: dict | None, expected: list[str]
) -> None:
    db = tmp_path / "cli.duckdb"
    with Store(db) as store:
        examples.add_examples(store, pd.DataFrame([{"instruction": "existing"}]), examples.SourceInfo("old", "test"))
    path = tmp_path / file_name
    path.write_bytes(data)
    args = [
        "--db",
        str(db),
        "import",
        str(path),
        "--format",
        fmt,
        *(["--mapping", json.dumps(mapping)] * bool(mapping)),
    ]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {file_name}")
    for text in expected:
        assert text in lines[0]
    with Store(db, read_only=True) as store:
        assert (examples.count(store), len(examples.list_sources(store))) == (1, 1)


def test_instruction_only_alpaca_needs_the_option_and_the_preview_counts_it(store: Store) -> None:
    data = b'[{"instruction": "a"}, {"instruction": "b", "output": "B"}]'
    with pytest.raises(InvalidInputError, match="missing required field 'output'"):
        importers.parse(data, "i.json", "alpaca")
    rows = importers.parse(data, "i.json", "alpaca", allow_missing_output=True)
    assert rows["output"].tolist() == ["", "B"]
    assert importers.rows_without_output(rows) == 1


def test_reimporting_the_same_file_needs_confirmation(store: Store) -> None:
    data = jsonl({"instruction": "a"})
    first = importers.import_bytes(store, data, "a.jsonl", "jsonl")
    with pytest.raises(importers.AlreadyImportedError, match=r"source #1.*confirm to import it again"):
        importers.import_bytes(store, data, "renamed.jsonl", "jsonl")
    assert examples.count(store) == 1
    again = importers.import_bytes(store, data, "a.jsonl", "jsonl", reimport=True)
    assert (first.source_id, again.source_id, examples.count(store)) == (1, 2, 2)


def test_json_lines_split_on_newline_only() -> None:
    text = "a\u2028b\u2029c\x85d\x1ce\x0bf\x0cg"
    data = (json.dumps({"instruction": text, "output": text}, ensure_ascii=False) + "\n").encode()
    assert "\u2028".encode() in data  # written raw, as JSON allows (not as an escape)
    rows = importers.parse(data, "u.jsonl", "jsonl")
    assert rows["instruction"].tolist() == [text]


GPTEACHER = Path(__file__).resolve().parents[1] / "fixtures" / "gpteacher_roleplay.json"


def test_a_gpteacher_file_imports_with_its_answer_field_mapped_to_output() -> None:
    data = GPTEACHER.read_bytes()
    with pytest.raises(InvalidInputError, match=r"row 0\): missing required field 'output'"):
        importers.parse(data, "roleplay.json", "alpaca")
    mapping = {"instruction": "instruction", "input": "input", "output": "response"}
    rows = importers.parse(data, "roleplay.json", "alpaca", mapping=mapping)
    assert rows["output"].tolist() == [r["response"] for r in json.loads(data)]
    assert rows["input"].tolist()[1] == "The traveller is soaked from the rain."
    assert rows["meta"].tolist() == [None, None, None]  # the answer is not kept twice


@pytest.mark.parametrize("fmt", ["alpaca", "jsonl"])
def test_nested_paths_map_list_positions_and_object_fields_and_keep_the_rest_as_meta(fmt: str) -> None:
    records = [
        {"conversation": [{"text": "Q1"}, {"text": "A1"}], "a": {"b": "in1"}, "src": "x"},
        {"conversation": [{"text": "Q2"}, {"text": "A2"}], "a": {"b": "in2"}, "src": "y"},
    ]
    data = json.dumps(records).encode() if fmt == "alpaca" else b"".join(jsonl(r) for r in records)
    mapping = {"instruction": "conversation.0.text", "output": "conversation.1.text", "input": "a.b"}
    rows = importers.parse(data, "n.json", fmt, mapping=mapping)
    assert rows[["instruction", "input", "output"]].to_dict("records") == [
        {"instruction": "Q1", "input": "in1", "output": "A1"},
        {"instruction": "Q2", "input": "in2", "output": "A2"},
    ]
    assert rows["meta"].tolist() == [{k: r[k] for k in ("conversation", "a", "src")} for r in records]


@pytest.mark.parametrize(
    ("data", "fmt", "mapping", "expected"),
    [
        (b'[{"q": "x", "a": "y"}]', "alpaca", {"instruction": "q", "output": "answer"},
         "n.json: field mapping invalid: no record has ['answer']; the records have ['q', 'a']"),
        (b'[{"q": "x", "a": {"t": 1}}]', "alpaca", {"instruction": "q", "output": "a"},
         "n.json line 1 (row 0): field 'output' must be a string; got dict"),
        (b'[{"q": "x"}]', "alpaca", {"output": "q"}, "n.json: field mapping invalid: no field mapped to 'instruction'"),
        (b'[{"q": "x"}]', "alpaca", {"prompt": "q"}, "n.json: field mapping invalid: unknown target fields ['prompt']"),
        (b'{"messages": []}\n', "messages", {"instruction": "q"},
         "n.json: a field mapping applies to alpaca, jsonl, csv, parquet files; messages has a fixed layout"),
    ],
)  # fmt: skip
def test_a_bad_field_mapping_is_one_line_naming_the_field(data, fmt, mapping, expected) -> None:
    with pytest.raises(InvalidInputError) as err:
        importers.parse(data, "n.json", fmt, mapping=mapping)
    assert err.value.errors[0].startswith(expected), err.value.errors


@pytest.mark.parametrize(
    ("name", "fmt", "data", "mapping"),
    [
        ("q.csv", "csv", b"question,notes\nWhat?,x\nWhy?,y\n", {"instruction": "question"}),
        ("q.csv", "csv", b"instruction,notes\nWhat?,x\nWhy?,y\n", None),  # same-named columns, no output column
        ("q.json", "alpaca", b'[{"q": "What?"}, {"q": "Why?"}]', {"instruction": "q"}),
        ("q.jsonl", "jsonl", b'{"q": "What?"}\n{"q": "Why?"}\n', {"instruction": "q"}),
    ],
)
def test_output_left_unmapped_is_refused_unless_rows_without_output_are_allowed(name, fmt, data, mapping) -> None:
    with pytest.raises(InvalidInputError, match="no field is mapped to 'output', so every row would get an empty"):
        importers.parse(data, name, fmt, mapping=mapping)
    rows = importers.parse(data, name, fmt, mapping=mapping, allow_missing_output=True)
    assert rows["output"].tolist() == ["", ""] and rows["instruction"].tolist() == ["What?", "Why?"]


def test_field_paths_and_suggested_mapping_of_a_gpteacher_file() -> None:
    paths = importers.json_field_paths(GPTEACHER.read_bytes(), "r.json", "alpaca")
    assert paths == ["instruction", "input", "response"]
    assert field_mapping.suggested(paths) == {"instruction": "instruction", "input": "input", "output": "response"}
    nested = importers.json_field_paths(b'{"c": [{"t": "a"}, {"t": "b"}], "n": 1}\n', "r.jsonl", "jsonl")
    assert nested == ["c", "c.0", "c.0.t", "c.1", "c.1.t", "n"]


@given(st.dictionaries(st.sampled_from(["a", "b.c", "d"]), st.text(max_size=5), min_size=1))
def test_resolve_finds_every_top_level_field_by_its_own_name(record: dict) -> None:
    for key, value in record.items():
        assert field_mapping.resolve(record, key) == value
    assert field_mapping.resolve(record, "zz.0") is field_mapping.MISSING
