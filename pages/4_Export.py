"""Export: the current filter or every approved row, as Alpaca JSON, messages JSONL or Parquet, with a manifest."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from curation.filters import ExampleFilter
from curation.io import export
from curation.store import StoreAccessError, examples
from ui.filters import filter_sidebar
from ui.state import get_runner, get_store
from ui.text import inert

LAST = "export_last"
SCOPES = ("All approved rows", "Current filter")
FORMAT_HELP = {
    "alpaca": "JSON array of {instruction, input, output, id, task, task_cluster, tags}.",
    "messages": "JSONL with a `messages` list per row (chat format; multi-turn conversations kept).",
    "parquet": "Parquet table: id, text columns, task, format, origin, status, source, tags.",
}

st.set_page_config(page_title="Export · instruct-curator", page_icon=":material/dataset:", layout="wide")
store = get_store()


def run_export(flt: ExampleFilter, fmt: str) -> None:
    """Write the export under exports_dir as a recorded job, with a progress bar."""
    bar = st.progress(0.0, text="Exporting…")

    def job(ctx) -> dict:
        result = export.export(store, flt, fmt, progress=ctx.progress)
        return {"path": str(result.path), "manifest_path": str(result.manifest_path), "rows": result.manifest["rows"]}

    try:
        done = get_runner().run(
            "export", job, {"format": fmt, "filter": flt.to_dict()}, on_progress=lambda f, m: bar.progress(f, text=m)
        )
    except (ValueError, OSError, StoreAccessError) as err:  # no rows, a refused or failed write, a full disk
        bar.empty()
        st.error(inert(err))
        return
    bar.progress(1.0, text="Done")
    st.session_state[LAST] = done


def show_last() -> None:
    last = st.session_state.get(LAST)
    if not last or not Path(last["path"]).exists():
        return
    path, manifest = Path(last["path"]), export.read_manifest(Path(last["manifest_path"]))
    st.success(f"Exported {last['rows']:,} rows to:")
    st.code(str(path), language=None)
    st.download_button(
        f"Download {path.name}",
        data=path.read_bytes(),
        file_name=path.name,
        mime=export.MIME_TYPES[manifest["format"]],
        key="export_download",
        type="primary",
    )
    st.caption("Manifest (written beside the file as " + Path(last["manifest_path"]).name + "):")
    st.json(manifest)


st.title("Export")
current = filter_sidebar(store)
approved = ExampleFilter(statuses=["approved"])
scope = st.radio(
    "What to export",
    SCOPES,
    key="export_scope",
    horizontal=True,
    captions=[f"{examples.count(store, approved):,} rows", f"{examples.count(store, current):,} rows"],
)
chosen = approved if scope == SCOPES[0] else current
st.text(f"Filter: {chosen.describe()}")
fmt = st.selectbox("Format", export.EXPORT_FORMATS, key="export_format")
st.caption(FORMAT_HELP[fmt])
if st.button("Export", key="export_go", type="primary"):
    run_export(chosen, fmt)
show_last()
st.subheader("Earlier exports")
earlier = export.list_exports()
if earlier.empty:
    st.caption("No exports yet.")
else:
    st.dataframe(earlier, hide_index=True, width="stretch")
