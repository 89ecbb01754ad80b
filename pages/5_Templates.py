"""Templates: the task registry, FLAN-style templates (create, edit, preview, delete) and applying them to data."""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from curation.filters import ExampleFilter
from curation.generate import templates as T
from curation.generate.template_formats import (
    COT_STYLES,
    FEWSHOT_STYLES,
    FORMATS,
    OPTIONS_STYLES,
    FormatConfig,
    Rendered,
    Task,
    Template,
)
from curation.io.importers import InvalidInputError
from curation.store import examples
from ui import feedback
from ui.actions import recent_actions
from ui.feedback import refusal_shown
from ui.navigation import kept_tabs
from ui.state import author, get_store
from ui.text import inert

FLASH, WRITE_FLASH = "tpl_flash", "tpl_write_flash"
SOURCES = ("Built-in sample", "Upload a file", "Store rows")
PREVIEW_ROWS = 5

store = get_store()


flash = partial(feedback.flash, FLASH)
show_flash = partial(feedback.show_flash, FLASH)


def show_problem(err: Exception) -> None:
    """An error from curation/: a fixed headline, the details as inert text."""
    lines = err.errors if isinstance(err, InvalidInputError) else [err.args[0] if err.args else str(err)]
    st.error("This cannot be used as it is; the details say what to fix.")
    st.code("\n".join(str(x) for x in lines), language=None, wrap_lines=True)


def show_rendered(rows: list[Rendered]) -> None:
    for row in rows:
        st.caption(f"row {row.row_index} · template {row.template_id} · {row.format}")
        left, right = st.columns([3, 2])
        left.code(row.instruction, language=None, wrap_lines=True)
        right.code(row.output, language=None, wrap_lines=True)


# -- registry ------------------------------------------------------------------------------------
def registry_table(tasks: list[Task]) -> None:
    frame = pd.DataFrame(
        [
            {
                "task": t.name,
                "cluster": t.cluster,
                "input fields": ", ".join(t.input_fields),
                "answer": t.answer_field,
                "options": " | ".join(t.options),
                "rationale": t.rationale_field or "",
                "templates": len(T.get_templates(store, t.name)),
                "built in": T.is_builtin(store, t.name),
            }
            for t in tasks
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")


@refusal_shown
def create_task() -> None:
    s = st.session_state
    split = lambda v: tuple(x.strip() for x in (v or "").split(",") if x.strip())  # noqa: E731
    task = Task(
        s.tpl_task_name.strip(),
        s.tpl_task_cluster.strip(),
        split(s.tpl_task_fields),
        s.tpl_task_answer.strip() or "answer",
        split(s.tpl_task_options),
        s.tpl_task_rationale.strip() or None,
    )
    try:
        T.save_task(store, task, author=author())
    except ValueError as err:
        flash("error", "The task was not saved.", str(err))
        return
    s.tpl_task = task.name
    flash("success", f"Saved task {task.name}. Add its templates below.")


def task_form() -> None:
    with st.expander("Create a task"):
        st.text_input("Name", key="tpl_task_name", placeholder="e.g. topic")
        st.text_input("Cluster", key="tpl_task_cluster", placeholder="e.g. NLI, sentiment, QA, summarisation")
        st.text_input("Input fields (comma-separated)", key="tpl_task_fields", placeholder="premise, hypothesis")
        st.text_input("Answer field", key="tpl_task_answer", value="answer")
        st.text_input("Label options for classification (comma-separated)", key="tpl_task_options")
        st.text_input("Rationale field (for chain-of-thought)", key="tpl_task_rationale")
        st.button("Save task", key="tpl_task_save", on_click=create_task)


# -- templates -----------------------------------------------------------------------------------
@refusal_shown
def save_edit(template_id: str) -> None:
    s = st.session_state
    try:
        T.edit_template(store, template_id, s[f"tpl_in_{template_id}"], s[f"tpl_tg_{template_id}"], author=author())
    except (ValueError, KeyError) as err:
        flash("error", f"Template {template_id} was not saved.", str(err.args[0]))
        return
    flash("success", f"Saved template {template_id}.")


@refusal_shown
def delete(template_id: str) -> None:
    action = T.delete_template(store, template_id, author=author())
    for prefix in ("tpl_in_", "tpl_tg_"):
        st.session_state.pop(prefix + template_id, None)
    flash("success", f"Deleted template {template_id} (action #{action}); undo it under Recent changes.")


def existing_templates(task: Task) -> None:
    templates = T.get_templates(store, task.name)
    if not templates:
        st.info("This task has no templates yet; write one below.")
    for tpl in templates:
        with st.expander(inert(f"{tpl.id}: {tpl.input.splitlines()[0][:80]}")):
            st.text_area("Input pattern", value=tpl.input, key=f"tpl_in_{tpl.id}", height=120)
            st.text_input("Target pattern", value=tpl.target, key=f"tpl_tg_{tpl.id}")
            save, remove, _ = st.columns([1, 1, 4])
            save.button("Save", key=f"tpl_save_{tpl.id}", on_click=save_edit, args=(tpl.id,))
            remove.button("Delete", key=f"tpl_del_{tpl.id}", on_click=delete, args=(tpl.id,))


@refusal_shown
def add_new(task_name: str) -> None:
    s = st.session_state
    try:
        template_id = T.add_template(store, task_name, s.tpl_new_input, s.tpl_new_target, author=author())
    except (ValueError, KeyError) as err:
        flash("error", "The template was not added.", str(err.args[0]))
        return
    s.tpl_new_input, s.tpl_new_target, s.tpl_new_show = "", "{answer}", False
    flash("success", f"Added template {template_id}.")


def new_template(task: Task) -> None:
    st.subheader("New template")
    fields = ", ".join(f"{{{f}}}" for f in task.input_fields) + (", {options_}" if task.options else "")
    st.caption(f"Placeholders: {fields} in the input; the target must contain {{answer}}.")
    st.text_area("Input pattern", key="tpl_new_input", height=120)
    st.text_input("Target pattern", key="tpl_new_target", value="{answer}")
    preview, save, _ = st.columns([1, 1, 4])
    if preview.button("Preview", key="tpl_new_preview"):
        st.session_state.tpl_new_show = True
    save.button("Save template", key="tpl_new_save", type="primary", on_click=add_new, args=(task.name,))
    if st.session_state.get("tpl_new_show") and st.session_state.tpl_new_input:
        draft = Template("(new)", task.name, st.session_state.tpl_new_input, st.session_state.tpl_new_target)
        try:
            T.check_template(task, draft.input, draft.target)
            rows = T.render(task, [draft], T.preview_dataset(task), FormatConfig(), limit=3)
        except ValueError as err:
            show_problem(err)
            return
        st.markdown("**Preview** (zero-shot, fixed options):")
        show_rendered(rows)


# -- apply ---------------------------------------------------------------------------------------
def format_settings(task: Task) -> FormatConfig:
    cols = st.columns(4)
    fmt = cols[0].radio("Format", FORMATS, key="tpl_format", horizontal=False)
    k = cols[1].number_input(
        "Exemplars (k)", 0, 16, 2 if fmt == "few-shot" else 0, key=f"tpl_k_{fmt}", disabled=fmt == "zero-shot"
    )
    style = cols[1].selectbox("Few-shot style", tuple(FEWSHOT_STYLES), key="tpl_fewshot_style")
    options_style = cols[2].selectbox("Options", OPTIONS_STYLES, key="tpl_options_style", disabled=not task.options)
    cot_style = cols[2].selectbox("CoT target", COT_STYLES, key="tpl_cot_style", disabled=fmt != "cot")
    trigger = cols[3].selectbox("CoT trigger", ("fixed", "random"), key="tpl_cot_trigger", disabled=fmt != "cot")
    seed = cols[3].number_input("Seed", 0, 2**31 - 1, 0, key="tpl_seed")
    return FormatConfig(
        format=fmt,
        k=int(k),
        fewshot_style=style,
        options_style=options_style,
        cot_style=cot_style,
        cot_trigger=trigger,
        seed=int(seed),
    )


def uploaded_dataset(task: Task, cfg: FormatConfig) -> T.Dataset | None:
    upload = st.file_uploader("Labelled file", type=["csv", "jsonl", "json", "parquet"], key="tpl_upload")
    if upload is None:
        return None
    frame = T.read_table(upload.getvalue(), upload.name)
    columns = list(frame.columns)
    mapping = {}
    cols = st.columns(len(T.needed_fields(task, cfg)))
    for col, field in zip(cols, T.needed_fields(task, cfg), strict=True):
        index = columns.index(field) if field in columns else 0
        mapping[field] = col.selectbox(f"{field} ←", columns, index=index, key=f"tpl_map_{upload.name}_{field}")
    return T.dataset_from_table(frame, task, cfg, name=upload.name, mapping=mapping)


def store_dataset(task: Task, cfg: FormatConfig) -> T.Dataset | None:
    cols = st.columns(2)
    sources = cols[0].multiselect("Sources", examples.distinct_values(store, "source"), key="tpl_store_sources")
    tasks = cols[1].multiselect("Row task", examples.distinct_values(store, "task"), key="tpl_store_tasks")
    if not sources and not tasks:
        st.caption("Pick sources or row tasks (e.g. FLAN CoT rows imported from TSV).")
        return None
    st.caption("Each field comes from the row's metadata (meta.<name>) or from instruction/input/output.")
    mapping: dict[str, str] = {}
    cols = st.columns(len(T.needed_fields(task, cfg)))
    for col, field in zip(cols, T.needed_fields(task, cfg), strict=True):
        mapping[field] = col.text_input(f"{field} ←", key=f"tpl_smap_{field}", placeholder=f"meta.{field}")
    flt = ExampleFilter(sources=sources, tasks=tasks)
    return T.dataset_from_store(store, flt, task, cfg, mapping={k: v for k, v in mapping.items() if v})


@refusal_shown
def write_rows(task: Task, templates: list[Template], dataset: T.Dataset, cfg: FormatConfig) -> None:
    try:
        ids = T.apply_templates(store, task, templates, dataset, cfg, author=author())
    except ValueError as err:
        feedback.flash(WRITE_FLASH, "error", "Nothing was written.", str(err.args[0]))
        return
    feedback.flash(
        WRITE_FLASH,
        "success",
        f"Wrote {len(ids):,} templated rows for task {task.name} (pending review, ids {ids[0]}-{ids[-1]}).",
    )


def apply_section(task: Task) -> None:
    all_templates = T.get_templates(store, task.name)
    if not all_templates:
        st.info("Add a template first.")
        return
    chosen_ids = st.multiselect("Templates to draw from", [t.id for t in all_templates], key=f"tpl_use_{task.name}")
    templates = [t for t in all_templates if t.id in chosen_ids] or all_templates
    cfg_or_error = _safe(lambda: format_settings(task))
    if not isinstance(cfg_or_error, FormatConfig):
        return
    cfg = cfg_or_error
    has_sample = any(s["name"] == task.name and s.get("sample") for s in T.builtin_specs())
    choices = SOURCES if has_sample else SOURCES[1:]
    source = st.radio("Data", choices, key="tpl_apply_source", horizontal=True)
    if source == SOURCES[0]:
        loader = lambda: sample_dataset(task, cfg)  # noqa: E731
    elif source == SOURCES[1]:
        loader = lambda: uploaded_dataset(task, cfg)  # noqa: E731
    else:
        loader = lambda: store_dataset(task, cfg)  # noqa: E731
    dataset = _safe(loader)
    if not isinstance(dataset, T.Dataset):
        return
    preview = _safe(lambda: T.render(task, templates, dataset, cfg, limit=PREVIEW_ROWS))
    if not isinstance(preview, list):
        return
    st.markdown(f"**{len(dataset.records):,} rows** ready · preview of the first {len(preview)}:")
    show_rendered(preview)
    st.button(
        f"Write {len(dataset.records):,} templated rows",
        key="tpl_apply_write",
        type="primary",
        on_click=write_rows,
        args=(task, templates, dataset, cfg),
    )
    feedback.show_flash(WRITE_FLASH)  # under the button, where the user is (the page's top is scrolled away)


def sample_dataset(task: Task, cfg: FormatConfig) -> T.Dataset:
    frame, name = T.builtin_sample(task.name)
    st.caption(f"{name}: {len(frame)} hand-written labelled rows shipped with the project.")
    return T.dataset_from_table(frame, task, cfg, name=name)


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except (ValueError, KeyError) as err:
        show_problem(err)
        return None


# -- page ----------------------------------------------------------------------------------------
st.title("Templates")
st.caption("FLAN-style instruction templates per task, rendered zero-shot, few-shot, with options or chain-of-thought.")
show_flash()
tasks = T.list_tasks(store)
st.subheader("Task registry")
registry_table(tasks)
task_form()
names = [t.name for t in tasks]
name = st.selectbox("Task", names, key="tpl_task")
task = next(t for t in tasks if t.name == name)
if task.description:
    st.caption(task.description)
tab_templates, tab_apply = kept_tabs(["Templates", "Apply to data"], "templates_tab")
with tab_templates:
    existing_templates(task)
    new_template(task)
    st.caption("Template and task changes (undo restores the earlier version)")
    recent_actions(
        store, key="tpl_actions", kinds=["template-edit", "template-delete", "task-edit", "task-delete"], limit=5
    )
with tab_apply:
    apply_section(task)
