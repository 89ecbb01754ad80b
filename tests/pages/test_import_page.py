"""Import page: upload, guessed format, csv column mapping, preview, import, and a clear error list."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from curation.store import Store, examples
from ui.text import inert

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "3_Import.py")


def test_upload_alpaca_json_lands_rows() -> None:
    data = json.dumps([{"instruction": "Say hi.", "output": "Hi."}, {"instruction": "Count to 2.", "output": "1 2"}])
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.file_uploader(key="import_upload").upload("greetings.json", data.encode(), "application/json").run()
    assert at.selectbox(key="import_format_greetings.json").value == "alpaca"
    assert any(m.value.startswith("**2 rows** ready to import") for m in at.markdown)
    assert at.dataframe[0].value["instruction"].tolist() == ["Say hi.", "Count to 2."]
    at.text_input(key="import_source_greetings.json").input("hello-set").run()
    at.button(key="import_go").click().run()
    assert at.success[0].value == f"Imported 2 rows from {inert('greetings.json')} as source #1."
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    assert examples.fetch(store, columns=("instruction",))["instruction"].tolist() == ["Say hi.", "Count to 2."]
    assert examples.list_sources(store)["name"].tolist() == ["hello-set"]
    assert at.dataframe[-1].value["name"].tolist() == ["hello-set"]


def test_csv_needs_a_mapping_and_keeps_other_columns() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    data = b"question,answer,grade\nWhat is 2+2?,4,A\nCapital of Peru?,Lima,B\n"
    at.file_uploader(key="import_upload").upload("quiz.csv", data, "text/csv").run()
    assert at.text[0].value == "Columns in the file: question, answer, grade"
    assert "no column mapped to 'instruction'" in at.code[0].value
    at.selectbox(key="import_map_quiz.csv_instruction").set_value("question").run()
    at.selectbox(key="import_map_quiz.csv_output").set_value("answer").run()
    assert not at.error
    at.button(key="import_go").click().run()
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    row = examples.get(store, 2)
    assert (row["instruction"], row["output"], row["meta"]) == ("Capital of Peru?", "Lima", {"grade": "B"})


def test_bad_file_lists_every_problem_and_imports_nothing() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    data = b'{"instruction": "ok", "output": "y"}\n{"output": "x"}\n{"instruction": 5}\n'
    at.file_uploader(key="import_upload").upload("broken.jsonl", data, "application/jsonl").run()
    assert at.error[0].value.startswith("2 problem(s) found; nothing was imported.")
    assert at.code[0].value.splitlines() == [
        "broken.jsonl line 2 (row 1): missing required field 'instruction'",
        "broken.jsonl line 3 (row 2): field 'instruction' must be a string; got int",
    ]
    assert not [b for b in at.button if b.key == "import_go"]
    assert examples.count(Store(os.environ["INSTRUCT_CURATOR_DB"])) == 0


def test_instruction_only_file_needs_the_checkbox_and_the_preview_counts_empty_outputs() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    data = json.dumps([{"instruction": "Name a fruit."}, {"instruction": "Say hi.", "output": "Hi."}]).encode()
    at.file_uploader(key="import_upload").upload("noinput.json", data, "application/json").run()
    assert at.code[0].value == (
        "noinput.json line 1 (row 0): missing required field 'output' "
        "(an instruction-only file: allow rows without an output)"
    )
    assert not [b for b in at.button if b.key == "import_go"]
    at.checkbox(key="import_allow_missing_noinput.json").check().run()
    assert "1 of 2 rows have no output." in [c.value for c in at.caption]
    at.button(key="import_go").click().run()
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    assert examples.fetch(store, columns=("output",))["output"].tolist() == ["", "Hi."]


def test_reimporting_the_same_file_needs_confirmation() -> None:
    data = json.dumps([{"instruction": "Say hi.", "output": "Hi."}]).encode()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.file_uploader(key="import_upload").upload("hi.json", data, "application/json").run()
    at.button(key="import_go").click().run()
    at.file_uploader(key="import_upload_1").upload("hi.json", data, "application/json").run()  # a fresh uploader
    assert "already imported as source #1" in at.warning[0].value
    assert at.button(key="import_go").disabled
    at.checkbox(key="import_again_hi.json").check().run()
    assert not at.button(key="import_go").disabled
    at.button(key="import_go").click().run()
    assert examples.count(Store(os.environ["INSTRUCT_CURATOR_DB"])) == 2


def test_a_successful_import_clears_the_file_and_a_second_one_needs_a_tick() -> None:
    data = json.dumps([{"instruction": "Say bye.", "output": "Bye."}]).encode()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.file_uploader(key="import_upload").upload("bye.json", data, "application/json").run()
    at.button(key="import_go").click().run()
    assert at.success[0].value.startswith("Imported 1 rows")
    assert not [b for b in at.button if b.key == "import_go"]  # the file is gone: nothing to click twice
    at.file_uploader(key="import_upload_1").upload("bye.json", data, "application/json").run()
    assert at.button(key="import_go").disabled
    at.checkbox(key="import_again_bye.json").check().run()
    assert not at.button(key="import_go").disabled
    at.button(key="import_go").click().run()
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    assert examples.fetch(store, columns=("instruction",))["instruction"].tolist() == ["Say bye.", "Say bye."]


GPTEACHER = Path(__file__).resolve().parents[1] / "fixtures" / "gpteacher_roleplay.json"


def test_a_gpteacher_json_imports_with_response_mapped_to_output() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.file_uploader(key="import_upload").upload("roleplay.json", GPTEACHER.read_bytes(), "application/json").run()
    assert at.text[0].value == "Fields in the first records: instruction, input, response"
    assert at.selectbox(key="import_map_roleplay.json_output").value == "response"  # a common name, preselected
    assert not at.error and not at.warning
    at.button(key="import_go").click().run()
    rows = examples.fetch(Store(os.environ["INSTRUCT_CURATOR_DB"]), columns=("input", "output"))
    assert rows["output"].tolist() == [r["response"] for r in json.loads(GPTEACHER.read_bytes())]


def test_nested_json_lines_map_by_path() -> None:
    records = [
        {"conversation": [{"text": "Hi?"}, {"text": "Hello."}]},
        {"conversation": [{"text": "Q"}, {"text": "A"}]},
    ]
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.file_uploader(key="import_upload").upload("chat.jsonl", data, "application/jsonl").run()
    assert at.selectbox(key="import_map_chat.jsonl_instruction").options[:4] == [
        "(none)",
        "conversation",
        "conversation.0",
        "conversation.0.text",
    ]
    at.selectbox(key="import_map_chat.jsonl_instruction").set_value("conversation.0.text").run()
    at.selectbox(key="import_map_chat.jsonl_output").set_value("conversation.1.text").run()
    at.button(key="import_go").click().run()
    rows = examples.fetch(Store(os.environ["INSTRUCT_CURATOR_DB"]), columns=("instruction", "output"))
    assert rows[["instruction", "output"]].values.tolist() == [["Hi?", "Hello."], ["Q", "A"]]


def test_csv_with_output_unmapped_needs_an_explicit_choice() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    data = b"question,grade\nWhat is 2+2?,A\nCapital of Peru?,B\n"
    at.file_uploader(key="import_upload").upload("q.csv", data, "text/csv").run()
    at.selectbox(key="import_map_q.csv_instruction").set_value("question").run()
    assert at.warning[0].value == "No field is mapped to output: every row would be imported with an empty output."
    assert "no field is mapped to 'output'" in at.code[0].value
    assert not [b for b in at.button if b.key == "import_go"]  # nothing to import until chosen
    at.checkbox(key="import_allow_missing_q.csv").check().run()
    assert "2 of 2 rows have no output." in [c.value for c in at.caption]
    at.button(key="import_go").click().run()
    assert examples.count(Store(os.environ["INSTRUCT_CURATOR_DB"])) == 2


def test_no_page_suggests_a_command_line_flag() -> None:
    pages = sorted((Path(PAGE).parent).glob("*.py"))
    flagged = {p.name: re.findall(r"[\s`'\"(]--[a-z][a-z-]+", p.read_text()) for p in pages}
    assert {name: found for name, found in flagged.items() if found} == {}
