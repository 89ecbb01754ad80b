"""Mixture: group rows, combine mixing rules, preview counts/shares/epochs with warnings, export snapshots."""

from __future__ import annotations

from functools import partial

import altair as alt
import pandas as pd
import streamlit as st
import yaml

from curation import config
from curation.filters import STATUSES
from curation.mixture import export as mixture_export
from curation.mixture import lineage, snapshot
from curation.mixture import plan as mixture
from curation.store import drops, examples
from ui import feedback
from ui import jobs as ui_jobs
from ui.charts import before_after_bars, share_bars
from ui.feedback import refusal_shown
from ui.navigation import kept_tabs
from ui.state import get_runner, get_store
from ui.text import inert

GROUP_LABELS = {
    "source": "Source",
    "task": "Task",
    "task_cluster": "Task cluster",
    "origin": "Origin",
    "format": "Format (zero-shot / few-shot / CoT)",
    "cot": "CoT tag",
}
HELDOUT = {"none": "No held-out split", "clusters": "Whole task clusters", "fraction": "A random fraction"}
HELDOUT_BY = {"instruction": "whole instructions (normalised text)", "task": "whole tasks"}
FORMAT_LABELS = {
    "cot": "rationale then answer (Flan CoT)",
    "direct": "final answer only (direct)",
    "think": "<think>rationale</think>answer (+ reasoning_content)",
}
FLASH = "mix_flash"

store = get_store()
runner = get_runner()


flash = partial(feedback.flash, FLASH)


# -- settings ------------------------------------------------------------------------------------
def rule_settings() -> dict:
    st.subheader("Rows and groups")
    cols = st.columns(3)
    name = cols[0].text_input("Snapshot name", "mixture", key="mix_name")
    group_by = cols[1].selectbox("Group by", list(GROUP_LABELS), format_func=GROUP_LABELS.get, key="mix_group_by")
    statuses = cols[2].multiselect(
        "Statuses that may enter",
        [s for s in STATUSES if s != "duplicate"],
        default=["approved"],
        key="mix_statuses",
        help="Rows marked duplicate never enter a mixture.",
    )
    sources = st.multiselect("Only these sources", examples.distinct_values(store, "source"), key="mix_sources")
    st.subheader("Mixing rules")
    cols = st.columns(4)
    cap = cols[0].number_input("Cap per group (0 = none)", 0, 10**9, 0, key="mix_cap")
    temperature = cols[1].number_input("Temperature T", 0.1, 100.0, 1.0, 0.5, key="mix_temperature")
    total = cols[2].number_input("Target total (0 = natural size)", 0, 10**9, 0, key="mix_total")
    seed = cols[3].number_input("Seed", 0, 2**31 - 1, 0, key="mix_seed")
    cols = st.columns(4)
    use_share = cols[0].checkbox("Target a CoT share", key="mix_use_cot_share")
    share = cols[1].slider("CoT share", 0.0, 1.0, 0.1, 0.01, key="mix_cot_share", disabled=not use_share)
    max_epochs = cols[2].number_input("Warn if a group repeats more than", 0.5, 1000.0, 3.0, 0.5, key="mix_max_epochs")
    min_fraction = cols[3].number_input("Warn if a group keeps less than", 0.0, 1.0, 0.1, 0.05, key="mix_min_fraction")
    return {
        "name": name.strip(),
        "group_by": group_by,
        "statuses": statuses,
        "filter": {"sources": sources} if sources else {},
        "cap": int(cap) or None,
        "temperature": float(temperature),
        "total": int(total) or None,
        "seed": int(seed),
        "cot_share": float(share) if use_share else None,
        "max_epochs": float(max_epochs),
        "min_fraction": float(min_fraction),
    }


def heldout_settings(clusters: list[str]) -> dict:
    st.subheader("Held-out split and export format")
    cols = st.columns([2, 3, 2])
    mode = cols[0].radio("Hold out", list(HELDOUT), format_func=HELDOUT.get, key="mix_heldout")
    chosen, fraction, by = [], 0.0, "instruction"
    if mode == "clusters":
        chosen = cols[1].multiselect("Task clusters to hold out (leave-one-cluster-out)", clusters, key="mix_clusters")
    elif mode == "fraction":
        fraction = cols[1].slider("Fraction of the rows", 0.0, 0.5, 0.1, 0.01, key="mix_heldout_fraction")
        by = cols[1].radio(
            "Hold out",
            list(HELDOUT_BY),
            format_func=HELDOUT_BY.get,
            key="mix_heldout_by",
            horizontal=True,
            help="All rows of a held-out instruction (or task) are held out, so none of them is also trained on. "
            "Instructions that differ only in case, spacing or surrounding punctuation count as one.",
        )
    allow = mode != "none" and cols[1].checkbox(
        "Export even if an instruction is on both sides", key="mix_allow_overlap", help="Recorded in the manifest."
    )
    cot_format = cols[2].radio(
        "CoT rows are exported (default for every group)",
        list(FORMAT_LABELS),
        format_func=FORMAT_LABELS.get,
        key="mix_cot_format",
    )
    return {
        "heldout_clusters": chosen,
        "heldout_fraction": float(fraction),
        "heldout_by": by,
        "allow_overlap": bool(allow),
        "cot_format": cot_format,
    }


def formats_editor(groups: list[str], group_by: str) -> dict[str, dict[str, float]]:
    """Per-group CoT target formats as shares; a row with two shares puts the same CoT rows in both formats."""
    st.caption(
        "Shares of each group's CoT rows per format (e.g. cot 0.5 + direct 0.5, as in Flan: the same rows in "
        "both formats when the group's take allows). Empty rows use the default format."
    )
    frame = pd.DataFrame(
        {"group": groups} | {t: pd.Series([None] * len(groups), dtype="float64") for t in FORMAT_LABELS}
    )
    edited = st.data_editor(
        frame,
        key=f"mix_formats_{group_by}",
        hide_index=True,
        disabled=["group"],
        column_config={t: st.column_config.NumberColumn(t, min_value=0.0) for t in FORMAT_LABELS},
        width="stretch",
    )
    chosen = {}
    for record in edited.to_dict("records"):
        shares = {t: float(record[t]) for t in FORMAT_LABELS if pd.notna(record[t]) and record[t] > 0}
        if shares:
            chosen[str(record["group"])] = shares
    return chosen


def weights_editor(groups: list[str], group_by: str) -> dict[str, float]:
    st.caption(
        "Explicit weights are shares of the total (e.g. 0.4, or 40 with all groups weighted); "
        "empty rows keep their rate from cap/temperature."
    )
    frame = pd.DataFrame({"group": groups, "weight": pd.Series([None] * len(groups), dtype="float64")})
    edited = st.data_editor(
        frame,
        key=f"mix_weights_{group_by}",
        hide_index=True,
        disabled=["group"],
        column_config={"weight": st.column_config.NumberColumn("weight", min_value=0.0)},
        width="stretch",
    )
    return {str(g): float(w) for g, w in zip(edited["group"], edited["weight"], strict=True) if pd.notna(w)}


# -- preview -------------------------------------------------------------------------------------
def charts(groups: pd.DataFrame) -> None:
    before_after_bars(groups, key="mix_rows")
    total = max(1, groups["before"].sum())
    share_bars(pd.DataFrame({"group": groups["group"], "before": groups["before"] / total, "after": groups["share"]}))


def preview_section(plan: mixture.MixturePlan) -> None:
    st.subheader("Preview")
    cols = st.columns(4)
    cols[0].metric("Train rows", f"{plan.total:,}")
    cols[1].metric("Held-out rows", f"{plan.heldout_total:,}")
    cols[2].metric("CoT share", f"{plan.cot_share:.1%}")
    cols[3].metric("Groups", f"{len(plan.groups):,}")
    st.text(f"Rule: {plan.config.rule()}")
    if plan.overlap is not None:
        st.text(
            f"Held-out overlap with train: {plan.overlap['instructions']} instructions, {plan.overlap['tasks']} tasks"
        )
    for warning in plan.warnings:
        st.warning(inert(warning))
    if plan.groups.empty:
        return
    charts(plan.groups)
    table = plan.groups.assign(
        share=plan.groups["share"].map("{:.1%}".format), epochs=plan.groups["epochs"].map("{:.2f}".format)
    )
    st.dataframe(
        table[
            [
                "group",
                "before",
                "heldout",
                "after",
                "turns",
                "replies",
                "tokens",
                "share",
                "epochs",
                "weight",
                "warning",
            ]
        ],
        hide_index=True,
        width="stretch",
        key="mix_table",
        column_config={
            "turns": st.column_config.NumberColumn("turns", help="Chat turns in the rows taken (a plain row: 2)"),
            "replies": st.column_config.NumberColumn("replies", help="Assistant turns taken (each one trains)"),
            "tokens": st.column_config.NumberColumn("≈ tokens", help="Text characters / 4 of the rows taken"),
        },
    )
    takes = plan.format_takes()
    if not takes.empty:
        st.caption("CoT train rows per export format:")
        st.dataframe(takes, hide_index=True, width="stretch", key="mix_format_takes")


# -- export --------------------------------------------------------------------------------------
@refusal_shown
def start_export(config: mixture.MixConfig) -> None:
    job_id = runner.submit(mixture_export.JOB_KIND, mixture_export.export_job(config), config.to_dict())
    st.session_state.mix_job = job_id
    flash("info", f"Started export job #{job_id}.")


def _export_summary(job: dict) -> str:
    result = job["result"]
    counts = result.get("counts") or {}
    rows = f" ({counts.get('train', 0):,} train, {counts.get('heldout', 0):,} held-out rows)" if counts else ""
    return f"Job #{job['id']} wrote snapshot {result['path']}{rows}."


def export_section(config: mixture.MixConfig, plan: mixture.MixturePlan) -> None:
    st.subheader("Export")
    text = yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
    left, right = st.columns([1, 1])
    left.button(
        "Export snapshot",
        key="mix_export",
        type="primary",
        disabled=plan.total + plan.heldout_total == 0
        or bool(plan.overlap and mixture.overlap_blocks(config, plan.overlap)),
        on_click=start_export,
        args=(config,),
    )
    right.download_button("Download MIX.yaml (this mixture as a config file)", text, "mix.yaml", key="mix_yaml")
    job_id = ui_jobs.current_job_id(store, [mixture_export.JOB_KIND], "mix_job")
    if job_id is not None:
        ui_jobs.job_panel(store, runner, job_id, key="mix_job", summary=_export_summary)
    with st.expander("Settings as YAML"):
        st.code(text, language="yaml")


def snapshots_section() -> None:
    st.subheader("Snapshots")
    found = snapshot.list_snapshots()
    if not found:
        st.caption(inert(f"No snapshots yet in {config.get_path('snapshots_dir')}."))
        return
    table = pd.DataFrame(
        [
            {
                "name": m.get("name"),
                "train": m.get("counts", {}).get("train"),
                "heldout": m.get("counts", {}).get("heldout"),
                "rule": m.get("rule"),
                "seed": m.get("seed"),
                "content_hash": str(m.get("content_hash", ""))[:12],
                "created_at": m.get("created_at"),
                "path": m["path"],
            }
            for m in found
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch", key="mix_snapshots")
    paths = [m["path"] for m in found]
    chosen = st.selectbox("Manifest of", paths, key="mix_manifest_of")
    manifest = next(m for m in found if m["path"] == chosen)
    shaped_by(st.container(), manifest, "Decisions that shaped it")
    st.json(manifest, expanded=False)


def shaped_by(box, manifest: dict, title: str) -> None:
    """The snapshot's lineage in words: the status and tag decisions in effect when it was exported."""
    shaped = (manifest.get("lineage") or {}).get("actions") or []
    if shaped:
        box.markdown(f"**{title}** (actions in effect at export)")
        box.markdown("\n".join(f"- {inert(lineage.describe(entry))}" for entry in shaped))
    elif "lineage" in manifest:
        box.caption(f"{title}: no status or tag decisions were in effect.")


# -- compare -------------------------------------------------------------------------------------
CHANGES = ("removed", "added", "changed")


def _snapshot_label(found: list[dict]) -> dict[str, str]:
    return {m["path"]: f"{m.get('name')} · {m['path'].rsplit('/', 1)[-1]} · {m.get('created_at')}" for m in found}


@st.cache_data(max_entries=8, show_spinner="Comparing the snapshots…")
def _diff(a: str, b: str, as_of: int) -> lineage.SnapshotDiff:
    """The diff of two snapshots; `as_of` (the newest action) makes a new action recompute the blame."""
    return lineage.diff_snapshots(a, b, store)


def compare_section() -> None:
    """Rows added, removed and changed between two snapshots, with the action responsible for each."""
    found = snapshot.list_snapshots()
    if len(found) < 2:
        st.caption("Export at least two snapshots to compare them.")
        return
    labels = _snapshot_label(found)
    paths = list(labels)
    left, right = st.columns(2)
    a = left.selectbox("Snapshot A (before)", paths, index=1, key="mix_cmp_a", format_func=labels.__getitem__)
    b = right.selectbox("Snapshot B (after)", paths, index=0, key="mix_cmp_b", format_func=labels.__getitem__)
    try:
        diff = _diff(a, b, drops.last_action_id(store))
    except (OSError, ValueError) as err:
        st.error(inert(err))
        return
    by_path = {m["path"]: m for m in found}
    left, right = st.columns(2)
    shaped_by(left, by_path[a], "A was shaped by")
    shaped_by(right, by_path[b], "B was shaped by")
    counts = diff.counts()
    cols = st.columns(3)
    for col, change in zip(cols, CHANGES, strict=True):
        col.metric(f"Rows {change}", f"{counts[change]:,}")
    if not len(diff.rows):
        st.info("Both snapshots hold the same rows with the same content.")
        return
    ops = diff.by_operation.assign(
        operation=[
            f"#{int(i)} {k}" if pd.notna(i) else "no recorded action"
            for i, k in zip(diff.by_operation["action_id"], diff.by_operation["kind"], strict=True)
        ]
    )
    st.markdown("**Per operation**")
    long = ops.melt(id_vars=["operation"], value_vars=list(CHANGES), var_name="change", value_name="rows")
    chart = (
        alt.Chart(long[long["rows"] > 0])
        .mark_bar()
        .encode(
            x=alt.X("rows:Q", title="rows", stack="zero", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("operation:N", title=None, sort="-x"),
            color=alt.Color("change:N", sort=list(CHANGES)),
            tooltip=["operation", "change", "rows"],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(ops[["operation", *CHANGES, "description"]], hide_index=True, key="mix_cmp_ops")
    change = st.segmented_control("Rows", CHANGES, default="removed", key="mix_cmp_change") or "removed"
    rows = diff.rows[diff.rows["change"] == change]
    shown = rows.assign(
        fields=[", ".join(f) for f in rows["fields"]],
        action=[f"#{int(i)} {k}" if pd.notna(i) else "" for i, k in zip(rows["action_id"], rows["kind"], strict=True)],
    )[["example_id", "action", "fields", "part_a", "part_b", "instruction"]]
    st.caption(f"{len(rows):,} rows {change}" + (" (first 200 shown)" if len(rows) > 200 else ""))
    st.dataframe(shown.head(200), hide_index=True, width="stretch", key="mix_cmp_rows")


def mix_and_export() -> None:
    """Settings, preview, export and the snapshot list."""
    settings = rule_settings()
    settings |= heldout_settings(examples.distinct_values(store, "task_cluster"))
    try:
        base = mixture.MixConfig.from_dict(settings)
        counts = mixture.eligible_counts(store, base)
        with st.expander("Explicit weights per group", expanded=False):
            weights = weights_editor(sorted(counts["group"].unique().tolist()), base.group_by)
        with st.expander("CoT export format per group", expanded=False):
            cot_groups = sorted(counts.loc[counts["cot"], "group"].unique().tolist())
            formats = formats_editor(cot_groups, base.group_by)
        current = mixture.MixConfig.from_dict(settings | {"weights": weights, "cot_formats": formats})
        current_plan = mixture.preview(store, current, counts)
    except ValueError as err:
        st.error(inert(f"These settings cannot be used: {err}"))
        return
    preview_section(current_plan)
    export_section(current, current_plan)
    snapshots_section()


st.title("Mixture")
st.caption(
    "Group the eligible rows, combine mixing rules (cap, temperature, explicit weights, CoT share, total), "
    "check the preview, then export an immutable snapshot for fine-tuning."
)
feedback.show_flash(FLASH)
mix_tab, compare_tab = kept_tabs(["Mix and export", "Compare snapshots"], key="mix_tab")
with compare_tab:
    if compare_tab.open:  # only the chosen tab runs: a diff reads both snapshots
        compare_section()
with mix_tab:
    if mix_tab.open is not False:
        mix_and_export()
