"""Import: upload a file, pick its format (guessed from the name), map fields (names or nested paths) for JSON,
JSON Lines, CSV and Parquet, preview, then import in one step."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from curation.filters import ORIGINS
from curation.io import importers
from curation.io import mapping as field_mapping
from curation.store import StoreAccessError, examples
from ui.state import author, get_store
from ui.text import inert

NONE = "(none)"
PREVIEW_ROWS = 20
FLASH = "import_flash"
UPLOADS_DONE = "import_uploads_done"


def upload_key() -> str:
    """The uploader's key: `import_upload`, then `import_upload_N` after the N-th successful import."""
    done = st.session_state.get(UPLOADS_DONE, 0)
    return f"import_upload_{done}" if done else "import_upload"


HELP = {
    "alpaca": "JSON array of objects; map their fields below (e.g. GPTeacher's `response` to output); an array of "
    "chats is read as messages.",
    "selfinstruct-seed": "JSONL, one task per line with a list of instances -> one row per instance.",
    "jsonl": "JSONL, one object per line; map its fields below.",
    "messages": "JSON array or JSONL of chats: OpenAI `messages` (tool_calls, tool turns, reasoning) or ShareGPT "
    "`conversations` (function_call / observation turns, `system` and `tools` fields); every turn is kept.",
    "csv": "CSV with a header row; map its columns below.",
    "parquet": "Parquet table; map its columns below.",
    "flan-cot-tsv": "TSV: question, answer, rationale (literal \\n for line breaks).",
}

st.set_page_config(page_title="Import · instruct-curator", page_icon=":material/dataset:", layout="wide")
store = get_store()


def choose_format(file_name: str) -> str:
    guess = importers.guess_format(file_name)
    fmt = st.selectbox(
        "Format",
        importers.FORMATS,
        index=importers.FORMATS.index(guess) if guess else 0,
        key=f"import_format_{file_name}",
        help="Guessed from the file name; change it if the guess is wrong.",
    )
    st.caption(HELP[fmt] + ("" if guess else " (No guess from this file name: check the format.)"))
    return fmt


MAP_COLUMNS = 4


def field_mapping_form(data: bytes, file_name: str, fmt: str) -> dict[str, str]:
    """Selectboxes mapping each target field to a column (CSV, Parquet) or a field path (JSON: nested fields and
    list positions too); same-named fields and common names (response, answer, context...) are preselected."""
    if fmt in ("csv", "parquet"):
        fields = importers.table_columns(data, file_name, fmt)
        suggested = {c: c for c in importers.MAPPABLE if c in fields}
        st.text(f"Columns in the file: {', '.join(fields)}")
    else:
        fields = importers.json_field_paths(data, file_name, fmt)
        suggested = field_mapping.suggested(fields)
        top = [f for f in fields if "." not in f]
        st.text(f"Fields in the first records: {', '.join(top)}")
    mapping = {}
    targets = list(importers.MAPPABLE)
    for start in range(0, len(targets), MAP_COLUMNS):
        cells = st.columns(MAP_COLUMNS)
        for cell, target in zip(cells, targets[start : start + MAP_COLUMNS], strict=False):
            options = [NONE, *fields]
            choice = cell.selectbox(
                target,
                options,
                index=options.index(suggested[target]) if target in suggested else 0,
                key=f"import_map_{file_name}_{target}",
            )
            if choice != NONE:
                mapping[target] = choice
    st.caption(
        "Nested fields are listed as paths: `conversation.0.text` is the text of the first turn. "
        "Fields you do not map are kept in each row's metadata."
    )
    return mapping


def show_errors(err: importers.InvalidInputError) -> None:
    st.error(
        f"{len(err.errors)} problem(s) found; nothing was imported. Fix the file (or the mapping) and upload again."
    )
    st.code("\n".join(err.errors), language=None, wrap_lines=True)
    if len(err.errors) >= importers.MAX_ERRORS:
        st.caption(f"Only the first {importers.MAX_ERRORS} problems are listed.")


def preview(rows: pd.DataFrame) -> None:
    st.markdown(f"**{len(rows):,} rows** ready to import. First {min(PREVIEW_ROWS, len(rows))}:")
    empty = importers.rows_without_output(rows)
    if empty:
        st.caption(f"{empty:,} of {len(rows):,} rows have no output.")
    shown = [c for c in ("instruction", "input", "output", "task", "tags", "is_classification") if c in rows]
    st.dataframe(rows[shown].head(PREVIEW_ROWS), hide_index=True, width="stretch")


def do_import(upload, fmt: str, mapping, source: str, origin: str, allow_missing: bool, again: bool) -> None:
    try:
        result = importers.import_bytes(
            store,
            upload.getvalue(),
            upload.name,
            fmt,
            source_name=source,
            mapping=mapping,
            origin=origin,
            author=author(),
            allow_missing_output=allow_missing,
            reimport=again,
        )
    except importers.InvalidInputError as err:
        st.session_state[FLASH] = ("error", inert(err.errors[0]))
        return
    except StoreAccessError as err:  # e.g. a full disk: nothing was imported
        st.session_state[FLASH] = ("error", inert(err))
        return
    st.session_state[FLASH] = (
        "success",
        f"Imported {result.rows:,} rows from {inert(upload.name)} as source #{result.source_id}.",
    )
    # A new uploader key gives an empty uploader in the browser too (deleting the widget state does not).
    st.session_state[UPLOADS_DONE] = st.session_state.get(UPLOADS_DONE, 0) + 1


def allow_missing_output(file_name: str, fmt: str, mapping: dict[str, str] | None) -> bool:
    """An explicit choice before rows come in with empty outputs: nothing mapped to output, or an Alpaca file."""
    unmapped = mapping is not None and "output" not in mapping
    if fmt != "alpaca" and not unmapped:
        return False
    if unmapped:
        st.warning("No field is mapped to output: every row would be imported with an empty output.")
    return st.checkbox(
        "Allow rows without an output (an instruction-only file)",
        key=f"import_allow_missing_{file_name}",
        help="Otherwise a row without an output is an error, and nothing is imported.",
    )


def show_upload(sources: pd.DataFrame) -> None:
    upload = st.file_uploader(
        "File to import", type=["json", "jsonl", "ndjson", "csv", "tsv", "parquet"], key=upload_key()
    )
    if upload is None:
        st.caption("Formats: " + ", ".join(importers.FORMATS))
        return
    data = upload.getvalue()
    fmt_col, source_col, origin_col = st.columns(3)
    with fmt_col:
        fmt = choose_format(upload.name)
    source = source_col.text_input("Source name", value=Path(upload.name).stem, key=f"import_source_{upload.name}")
    default_origin = "seed" if fmt == "selfinstruct-seed" else "imported"
    origin = origin_col.selectbox(
        "Origin", ORIGINS, index=ORIGINS.index(default_origin), key=f"import_origin_{upload.name}_{fmt}"
    )
    try:
        mapping = field_mapping_form(data, upload.name, fmt) if fmt in importers.MAPPED_FORMATS else None
    except importers.InvalidInputError as err:
        show_errors(err)
        return
    if fmt not in importers.MAPPED_FORMATS:
        st.caption("This format has a fixed layout; for other field names choose alpaca (JSON) or jsonl.")
    allow_missing = allow_missing_output(upload.name, fmt, mapping)
    try:
        rows = importers.parse(
            data, upload.name, fmt, mapping=mapping, origin=origin, allow_missing_output=allow_missing
        )
    except importers.InvalidInputError as err:
        show_errors(err)
        return
    preview(rows)
    same = sources[sources["sha256"] == hashlib.sha256(data).hexdigest()]
    again = False
    if not same.empty:
        st.warning(
            f"A file with exactly this content was already imported as source #{int(same['id'].iloc[0])}; "
            "importing it again adds the rows a second time."
        )
        again = st.checkbox("Import it again anyway", key=f"import_again_{upload.name}")
    st.button(
        f"Import {len(rows):,} rows",
        key="import_go",
        type="primary",
        disabled=not same.empty and not again,
        on_click=do_import,
        args=(upload, fmt, mapping, source.strip() or Path(upload.name).stem, origin, allow_missing, again),
    )


st.title("Import")
if FLASH in st.session_state:
    level, message = st.session_state.pop(FLASH)
    getattr(st, level)(message)
sources = examples.list_sources(store)
show_upload(sources)
st.subheader("Sources")
if sources.empty:
    st.caption("Nothing imported yet.")
else:
    st.dataframe(
        sources[["id", "name", "file_name", "format", "row_count", "examples", "author", "imported_at", "sha256"]],
        hide_index=True,
        width="stretch",
    )
