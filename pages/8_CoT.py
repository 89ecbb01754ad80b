"""CoT: run the chain-of-thought detector, choose the threshold, inspect scores and signals, tag by hand."""

from __future__ import annotations

from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from curation.cot import detector as cot
from curation.cot import formats as cot_formats
from curation.cot import report as cot_report
from curation.cot import tagging as cot_tagging
from curation.filters import ExampleFilter
from curation.store import cot as cot_store
from curation.store import examples, jobs_table
from ui import feedback
from ui import jobs as ui_jobs
from ui.actions import recent_actions
from ui.drop_report import latest_report
from ui.feedback import refusal_shown
from ui.filters import filter_sidebar
from ui.state import author, get_runner, get_store

FLASH = "cot_flash"
CONFIRM = "cot_confirm"
PAGE_SIZE = 50
VIEW_LABELS = {
    "all": "All scored rows",
    "above": "Score >= threshold",
    "below": "Score < threshold",
    "manual": "Rows with a manual decision",
    "disagree": "Manual decision differs from the detector",
}

store = get_store()
runner = get_runner()


flash = partial(feedback.flash, FLASH)
show_flash = partial(feedback.show_flash, FLASH)


# -- detector job and threshold ------------------------------------------------------------------
@refusal_shown
def start_job(threshold: float, flt: ExampleFilter, rescore: bool) -> None:
    job_id = runner.submit(
        cot_tagging.JOB_KIND,
        cot_tagging.tag_job(threshold, flt, rescore),
        cot_tagging.job_params(threshold, flt, rescore),
    )
    st.session_state.cot_job = job_id
    flash("info", f"Started CoT detection job #{job_id}.")


@refusal_shown
def apply_threshold(threshold: float) -> None:
    result = cot_store.apply_threshold(store, threshold)
    flash(
        "success",
        f"Threshold {threshold:.2f} applied: {result['auto_tagged']:,} rows auto-tagged cot; "
        f"{result['protected']:,} rows keep their manual decision.",
    )


def _summary(job: dict) -> str:
    result = job["result"]
    return (
        f"Job #{job['id']} scored {result['scored']:,} rows; {result['auto_tagged']:,} auto-tagged cot "
        f"at threshold {result['threshold']}."
    )


def detector_section(flt: ExampleFilter) -> float:
    st.subheader("Detector")
    left, right = st.columns([3, 2])
    threshold = left.slider(
        "Threshold",
        0.05,
        1.0,
        cot.DEFAULT_THRESHOLD,
        0.05,
        key="cot_threshold",
        help="Rows scoring at least this are tagged cot. Changing it only counts until you apply it.",
    )
    rescore = right.checkbox("Score every row again (not only new or edited rows)", key="cot_rescore")
    pending = cot_store.count_to_score(store, flt, rescore=rescore)
    right.caption(f"{pending:,} rows of the current filter need scoring.")
    run, apply_, _ = st.columns([1, 1, 2])
    running = ui_jobs.any_active(store, [cot_tagging.JOB_KIND])
    run.button(
        "Run detector",
        key="cot_run",
        type="primary",
        disabled=running,
        on_click=start_job,
        args=(threshold, flt, rescore),
        width="stretch",
    )
    apply_.button("Apply threshold", key="cot_apply", on_click=apply_threshold, args=(threshold,), width="stretch")
    job_id = ui_jobs.current_job_id(store, [cot_tagging.JOB_KIND], "cot_job")
    if job_id is not None:
        ui_jobs.job_panel(store, runner, job_id, key="cot_job", summary=_summary)
    return threshold


# -- summary -------------------------------------------------------------------------------------
def summary_section(flt: ExampleFilter, threshold: float) -> None:
    counts = cot_store.summary(store, threshold, flt)
    cols = st.columns(5)
    cols[0].metric("Rows (filter)", f"{counts['rows']:,}")
    cols[1].metric("Scored", f"{counts['scored']:,}")
    cols[2].metric("Score >= threshold", f"{counts['above_threshold']:,}")
    cols[3].metric("Tagged cot", f"{counts['tagged']:,}", help=f"{counts['auto_tagged']:,} of them automatically")
    cols[4].metric("Manual decisions", f"{counts['manual']:,}")
    detected, missed = counts["manual_cot_detected"], counts["manual_cot_missed"]
    false_pos, rejected = counts["manual_not_cot_detected"], counts["manual_not_cot_rejected"]
    st.caption("Detector at this threshold vs. your manual decisions (rows you tagged or untagged by hand):")
    table = pd.DataFrame(
        {"detector: cot": [detected, false_pos], "detector: not cot": [missed, rejected]},
        index=["you: cot", "you: not cot"],
    )
    left, right = st.columns([3, 2])
    left.dataframe(table, width="stretch")
    precision = detected / (detected + false_pos) if detected + false_pos else None
    recall = detected / (detected + missed) if detected + missed else None
    right.text(
        f"precision vs. manual: {'n/a' if precision is None else f'{precision:.1%}'}\n"
        f"recall vs. manual:    {'n/a' if recall is None else f'{recall:.1%}'}"
    )
    hist = cot_store.score_histogram(store, flt)
    if hist["count"].sum():
        bars = (
            alt.Chart(hist)
            .mark_bar()
            .encode(
                x=alt.X("bin_start:Q", title="CoT score (red: threshold)", scale=alt.Scale(domain=[0, 1])),
                x2="bin_end:Q",
                y=alt.Y("count:Q", title="rows (square-root scale)", scale=alt.Scale(type="sqrt")),
                y2=alt.datum(0),  # x and x2 alone would make Vega-Lite draw thin horizontal bars
                tooltip=["bin_start", "bin_end", "count"],
            )
        )
        rule = alt.Chart(pd.DataFrame({"t": [threshold]})).mark_rule(color="red").encode(x="t:Q")
        st.altair_chart(bars + rule, width="stretch", height=180)


# -- rows ----------------------------------------------------------------------------------------
@refusal_shown
def mark(ids: list[int], present: bool) -> None:
    if not ids:
        flash("warning", "Choose rows first.")
        return
    result = cot_tagging.set_manual(store, present, author=author(), ids=ids)
    label = "cot" if present else "not cot"
    flash("success", f"Marked {result.rows} rows as {label} (action #{result.action_id}); undo it below.")
    st.session_state.cot_marked = []


def rows_section(flt: ExampleFilter, threshold: float) -> None:
    st.subheader("Scored rows")
    view = st.radio("Show", list(VIEW_LABELS), format_func=VIEW_LABELS.get, key="cot_view", horizontal=True)
    page_no = st.number_input("Page", 1, 100_000, 1, key="cot_page")
    rows = cot_store.scored_page(
        store, flt, threshold=threshold, view=view, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
    )
    if rows.empty:
        st.caption("No scored rows here yet: run the detector.")
        return
    shown = rows.assign(output=rows["output"].str.slice(0, 200))[
        ["id", "score", "detected", "tag", "signals", "instruction", "output", "status"]
    ]
    st.dataframe(shown, hide_index=True, width="stretch", key="cot_table")
    ids = rows["id"].astype(int).tolist()
    chosen = st.multiselect(  # no "Select all": untagging a whole page must not be one click away
        "Rows to mark", ids, key="cot_marked", placeholder="choose ids from the table", select_all=False
    )
    yes, no, _ = st.columns([1, 1, 2])
    yes.button("Tag as CoT", key="cot_mark_yes", on_click=mark, args=(chosen, True), width="stretch")
    no.button("Mark not CoT", key="cot_mark_no", on_click=mark, args=(chosen, False), width="stretch")
    detail_section(ids)


def detector_runs(limit: int = 5) -> None:
    """The detector's auto-tag jobs beside the manual decisions: who tagged how many rows, at which threshold."""
    jobs = jobs_table.list_jobs(store, [cot_tagging.JOB_KIND], limit)
    if jobs.empty:
        return
    lines = []
    for job in jobs.itertuples():
        full = jobs_table.get(store, int(job.id)) or {}
        found, params = full.get("result") or {}, full.get("params") or {}
        tagged = f"{found['auto_tagged']:,} rows auto-tagged" if "auto_tagged" in found else str(job.status)
        when = job.finished_at or job.created_at
        lines.append(
            f"job #{job.id} cot-tag: {tagged} at threshold {params.get('threshold', '?')}, "
            f"{found.get('scored', 0):,} rows scored · {job.author} · {when:%Y-%m-%d %H:%M}"
        )
    st.caption("Detector runs (auto tags follow the threshold; manual decisions above always win):")
    st.text("\n".join(lines))


def detail_section(ids: list[int]) -> None:
    example_id = st.selectbox("Explain a row", ids, key="cot_detail")
    row = examples.get(store, int(example_id)) if example_id is not None else None
    if row is None:
        return
    st.text(f"Instruction:\n{row['instruction']}")
    if row["input"]:
        st.text(f"Input:\n{row['input']}")
    st.code(row["output"], language=None, wrap_lines=True)
    signals = cot_store.signals_of(store, int(example_id))
    if signals:
        table = pd.DataFrame(signals)
        table["effect"] = ["lowers the score" if n in cot.PENALTIES else "raises the score" for n in table["name"]]
        table["why"] = table["name"].map(cot.SIGNAL_HELP)
        st.caption("Signals that fired (score = learned logistic model over them; rule weight shown beside):")
        st.dataframe(table[["name", "weight", "effect", "evidence", "why"]], hide_index=True, width="stretch")
    format_previews(row)


def format_previews(row: dict) -> None:
    """The row in each export target format, as a mixture would write it."""
    found = cot_formats.reasoning_of(row["output"], row.get("meta"), row.get("messages"))
    if found is None:
        st.text("Export formats: no rationale separate from a final answer was found; exports keep the text.")
        return
    st.caption(f"Rationale found in: {found.found_in} ({len(found.rationale.split())} words)")
    conflict = (
        cot_formats.answer_conflict(found.rationale, found.answer)
        if found.found_in in ("think", "reasoning_content", "fields")
        else None
    )
    if conflict is not None:
        st.warning(f"The rationale concludes {conflict!r} but the answer is {found.answer!r}.")
    for tab, target in zip(st.tabs(list(cot_formats.TARGETS)), cot_formats.TARGETS, strict=True):
        tab.code(cot_formats.render(found, target), language=None, wrap_lines=True)


# -- reasoning report ----------------------------------------------------------------------------
def reasoning_section(flt: ExampleFilter) -> None:
    st.subheader("Rationales and answers")
    st.caption(
        "Rows whose rationale is stored apart from the answer (<think>, reasoning_content, FLAN fields) are "
        "checked: does the rationale conclude the same answer? Also rationale lengths in words."
    )
    if st.button("Check rationales of the current filter", key="cot_check"):
        with st.spinner("reading rationales"):
            st.session_state.cot_report = cot_report.reasoning_report(store, flt)
    report = st.session_state.get("cot_report")
    if not report:
        return
    cols = st.columns(4)
    cols[0].metric("Rows (filter)", f"{report['rows']:,}")
    cols[1].metric("With a rationale", f"{report['with_rationale']:,}")
    cols[2].metric("Median rationale words", f"{report['rationale_words'].get('median', 0):g}")
    cols[3].metric("Answer conflicts", f"{report['conflict_count']:,}")
    if report["rationale_words"]:
        st.text("rationale words: " + ", ".join(f"{k} {v:g}" for k, v in report["rationale_words"].items()))
        hist = pd.DataFrame(report["histogram"])
        hist["words"] = hist["from_words"].astype(str) + "-" + (hist["to_words"] - 1).astype(str)
        st.altair_chart(
            alt.Chart(hist).mark_bar().encode(x=alt.X("words:N", sort=None), y="rows:Q").properties(height=160),
            width="stretch",
        )
    if report["conflicts"]:
        st.dataframe(pd.DataFrame(report["conflicts"]), hide_index=True, width="stretch", key="cot_conflicts")
        st.button(
            f"Tag the {report['conflict_count']:,} rows '{cot_report.CONFLICT_TAG}'",
            key="cot_tag_conflicts",
            on_click=tag_conflicts,
            args=(flt,),
        )


@refusal_shown
def tag_conflicts(flt: ExampleFilter) -> None:
    result = cot_report.tag_conflicts(store, flt, author=author())
    if result:
        flash("success", f"Tagged {result.rows} rows '{cot_report.CONFLICT_TAG}' (action #{result.action_id}).")


# -- bulk ----------------------------------------------------------------------------------------
def ask_bulk(present: bool, flt: ExampleFilter, count: int) -> None:
    st.session_state[CONFIRM] = {"present": present, "filter": flt.to_dict(), "count": count}


@refusal_shown
def confirm_bulk() -> None:
    request = st.session_state.pop(CONFIRM)
    flt = ExampleFilter.from_dict(request["filter"])
    result = cot_tagging.set_manual(store, request["present"], author=author(), flt=flt)
    label = "cot" if request["present"] else "not cot"
    flash("success", f"Marked {result.rows:,} rows as {label} (action #{result.action_id}); undo it below.")


def bulk_section(flt: ExampleFilter) -> None:
    count = examples.count(store, flt)
    st.subheader("Bulk decision on the current filter")
    st.text(f"{count:,} rows · filter: {flt.describe()}")
    yes, no, _ = st.columns([1, 1, 2])
    yes.button(f"Tag all {count:,} as CoT", key="cot_bulk_yes", on_click=ask_bulk, args=(True, flt, count))
    no.button(f"Mark all {count:,} not CoT", key="cot_bulk_no", on_click=ask_bulk, args=(False, flt, count))
    request = st.session_state.get(CONFIRM)
    if request:
        label = "CoT" if request["present"] else "not CoT"
        st.warning(f"Mark {request['count']:,} rows as {label} by hand? The auto tagger will never change them.")
        ok, cancel, _ = st.columns([1, 1, 3])
        ok.button("Yes, mark them", key="cot_confirm_yes", type="primary", on_click=confirm_bulk)
        cancel.button("Cancel", key="cot_confirm_no", on_click=lambda: st.session_state.pop(CONFIRM, None))


st.title("Chain-of-thought tagging")
st.caption(
    "The detector scores every row and says which signals fired: answer markers, reasoning moves in any style "
    "(references to the question, inference chains, equations, state tracking, a verdict after an explanation), "
    "<think> and reasoning_content traces, any turn of a conversation; penalties for code, how-to steps, "
    "dialogue and writing tasks. Rows at or above the threshold get the tag `cot` (filter by it on Browse). "
    "Manual decisions are undoable and always win."
)
show_flash()
current = filter_sidebar(store)
chosen_threshold = detector_section(current)
summary_section(current, chosen_threshold)
rows_section(current, chosen_threshold)
reasoning_section(current)
bulk_section(current)
st.subheader("Recent CoT decisions")
latest_report(store, key="cot_report", field="tag:cot", label="What did the last CoT tagging change?")
recent_actions(store, key="cot_actions", kinds=["cot-manual"], limit=5)
detector_runs()
