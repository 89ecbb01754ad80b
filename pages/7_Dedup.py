"""Dedup: find near-duplicates (exact ROUGE-L or embeddings) as a job, review clusters, apply, undo; contamination."""

from __future__ import annotations

from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from curation import config
from curation.dedup import contamination, embeddings, encoder, index, runs
from curation.dedup.clusters import GREEDY_ORDERS, KeepRule
from curation.dedup.highlight import shared_segments
from curation.dedup.scopes import SCOPE_LABELS, scope_texts
from curation.filters import ORIGINS, STATUSES
from curation.io import importers
from curation.io.importers import InvalidInputError
from curation.store import dedup as dedup_store
from curation.store import examples, jobs_table
from ui import feedback
from ui.state import author, get_runner, get_store
from ui.text import inert

FLASH = "dd_flash"
JOB_KINDS = ["dedup-rouge", "dedup-embedding", "contamination"]
METHOD_LABELS = {"rouge": "ROUGE-L (exact rouge-score)", "embedding": "Embeddings (cosine, all-MiniLM-L6-v2)"}
RULE_LABELS = {"ge": "score ≥ threshold", "gt": "score > threshold (Self-Instruct code)"}
MAX_SIDE_BY_SIDE = 12

store = get_store()
runner = get_runner()


flash = partial(feedback.flash, FLASH)
show_flash = partial(feedback.show_flash, FLASH)


# -- start a run ---------------------------------------------------------------------------------
def run_form() -> None:
    method = st.radio("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="dd_method", horizontal=True)
    left, mid, right = st.columns(3)
    default = runs.DEFAULT_THRESHOLDS[method]
    threshold = left.number_input("Threshold", 0.01, 1.0, default, 0.01, format="%.2f", key=f"dd_threshold_{method}")
    rule = mid.radio("Duplicate when", list(RULE_LABELS), format_func=RULE_LABELS.get, key="dd_rule")
    scope = right.selectbox("Compare", list(SCOPE_LABELS), format_func=SCOPE_LABELS.get, key="dd_scope")
    left, mid, right = st.columns(3)
    mode = left.radio(
        "Mode",
        list(runs.MODES),
        key="dd_mode",
        format_func={"pairs": "all pairs → clusters", "greedy": "greedy Self-Instruct filter"}.get,
    )
    order = mid.selectbox("Greedy order", GREEDY_ORDERS, key="dd_order", disabled=mode != "greedy")
    unicode = right.checkbox(
        "Non-Latin tokens (not rouge-score)",
        key="dd_unicode",
        disabled=method != "rouge",
        help="rouge-score drops every non-[a-z0-9] character, so e.g. Chinese never matches. This alternative "
        "splits CJK text into characters; its scores are NOT rouge-score's.",
    )
    left, right = st.columns(2)
    sources = left.multiselect("Sources (empty = all)", examples.distinct_values(store, "source"), key="dd_sources")
    statuses = right.multiselect("Statuses", STATUSES, default=["pending", "approved"], key="dd_statuses")
    if method == "embedding":
        st.caption(embedding_runtime())
    keep = keep_rule_form()
    busy = _running_job() is not None
    if st.button("Find duplicates", key="dd_start", type="primary", disabled=busy or not statuses):
        cfg = runs.DedupConfig(
            method=method,
            mode=mode,
            threshold=float(threshold),
            rule=rule,
            scope=scope,
            tokenizer="unicode" if unicode and method == "rouge" else "rouge",
            order=order,
            sources=tuple(sources),
            statuses=tuple(statuses),
            keep=keep,
        )
        job_id = runner.submit(f"dedup-{method}", runs.dedup_job(cfg, author()), cfg.params())
        st.session_state.dd_job = job_id
        flash("info", f"Started dedup job #{job_id}.")
        st.rerun()
    if busy:
        st.caption("A dedup job is running; wait for it or cancel it below.")


def embedding_runtime() -> str:
    """Which embedding runtime and search a run will use (settings embedding_backend, embedding_search)."""
    try:
        backend = encoder.backend_for(embeddings.model_dir(), config.get("embedding_backend"))
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        return f"Embedding runtime: {exc}"
    search = config.get("embedding_search")
    if search == "auto":
        search += f" (exact up to {index.EXACT_MAX_ROWS:,} rows, then a faiss index with exact re-scoring)"
    where = "on Ray at " + config.get("ray_address") if config.get("ray_address") else "in this process"
    return (
        f"Embeddings run on **{backend}** {where}; cosine search: **{search}**. "
        "Change with the embedding_backend / embedding_search settings."
    )


def keep_rule_form() -> KeepRule:
    with st.expander("Keep rule (which row of a cluster stays)"):
        st.caption(
            "Approved rows first, then by origin in this order, then (optionally) the longer output, then the "
            "oldest id. You can still change the kept row of any cluster when reviewing."
        )
        origins = st.multiselect(
            "Origin preference, first = kept first", ORIGINS, default=list(ORIGINS), key="dd_keep_origins"
        )
        longer = st.checkbox("Prefer the longer output", value=True, key="dd_keep_longer")
    return KeepRule(origins=tuple(origins), longer_output=longer)


def _running_job() -> int | None:
    jobs = jobs_table.list_jobs(store, JOB_KINDS, 5)
    running = jobs[jobs["status"].isin(["queued", "running"])]
    return int(running["id"].iloc[0]) if len(running) else None


@st.fragment(run_every=1)
def job_progress() -> None:
    job_id = st.session_state.get("dd_job") or _running_job()
    if job_id is None:
        return
    job = jobs_table.get(store, job_id)
    if job is None:
        return
    st.progress(float(job["progress"]), text=f"job #{job_id} · {job['kind']} · {job['status']}")
    result = job["result"] or {}
    if job["status"] == "succeeded" and "pairs" in result:
        st.text(
            f"run #{result['run_id']}: {result['pairs']:,} pairs, {result['clusters']:,} clusters, "
            f"{result['duplicates']:,} duplicates proposed; see Review clusters"
        )
    else:
        st.text(job["message"] or "")
    if job["status"] in ("queued", "running"):
        st.button("Cancel", key="dd_cancel", on_click=runner.cancel, args=(job_id,))
    elif job["error"]:
        st.error("The job failed.")
        st.code(job["error"], language=None, wrap_lines=True)
    seen = st.session_state.setdefault("dd_seen", {})
    finished = job["status"] not in ("queued", "running")
    if finished and seen.get(job_id) in ("queued", "running"):
        if result.get("run_id"):
            key = "dd_eval_run" if job["kind"] == "contamination" else "dd_run"
            st.session_state[key] = int(result["run_id"])
        seen[job_id] = job["status"]
        st.rerun(scope="app")
    seen[job_id] = job["status"]


# -- review --------------------------------------------------------------------------------------
def choose_run() -> dict | None:
    listed = dedup_store.list_runs(store, 50, methods=list(runs.METHODS))
    if listed.empty:
        st.info("No dedup runs yet: start one above.")
        return None
    ids = listed["id"].astype(int).tolist()
    if st.session_state.get("dd_run") not in ids:
        st.session_state.dd_run = ids[0]
    labels = {int(r["id"]): f"run #{r['id']} · {runs.run_label(r)}" for r in listed.to_dict("records")}
    run_id = st.selectbox("Dedup run", ids, key="dd_run", format_func=labels.get)
    return dedup_store.get_run(store, run_id)


def histogram_chart(run: dict) -> None:
    hist = run["params"].get("histogram")
    if not hist or not hist.get("sample"):
        return
    frame = pd.DataFrame({"from": hist["edges"][:-1], "to": hist["edges"][1:], "rows": hist["counts"]})
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("from:Q", bin="binned", title="nearest-neighbour similarity", scale=alt.Scale(domain=[0, 1])),
            x2="to:Q",
            y=alt.Y("rows:Q", title="rows"),
            tooltip=["from", "to", "rows"],
        )
    )
    rule = alt.Chart(pd.DataFrame({"t": [run["threshold"]]})).mark_rule(color="red").encode(x="t:Q")
    st.altair_chart(bars + rule, width="stretch")
    st.caption(
        f"Nearest-neighbour similarity of {hist['sample']:,} sampled rows; the red line is this run's threshold. "
        "Rows right of it have a duplicate; pick a threshold where the bars thin out and run again."
    )


def run_summary(run: dict) -> None:
    dupes = dedup_store.duplicate_rows(store, run["id"], accepted_only=False)
    cols = st.columns(4)
    cols[0].metric("Rows compared", f"{run['row_count']:,}")
    cols[1].metric("Similar pairs", f"{run['pair_count']:,}")
    cols[2].metric("Clusters", f"{run['cluster_count']:,}")
    cols[3].metric("Would be marked", f"{len(dupes):,}")


def highlighted(text: str, other: str, tokenizer: str) -> str:
    """Markdown of `text` with the tokens shared with `other` on a coloured background; user text escaped."""
    parts = []
    for segment, shared in shared_segments(text, other, tokenizer):
        # shared segments are runs of letters/digits only, so they need no escaping inside the directive
        parts.append(f":orange-background[{segment}]" if shared else plain(segment))
    return "".join(parts) or "_(empty)_"


def plain(text: str) -> str:
    """User text as inert Markdown that keeps its line breaks."""
    return inert(text).replace("\n", "  \n")


def member_card(column, run: dict, cluster: int, member: pd.Series, kept_text: str) -> None:
    tokenizer = run["params"].get("tokenizer", "rouge")
    text = scope_texts(pd.DataFrame([member]), run["scope"])[0]
    badge = "KEPT" if member["keep"] else ("split off" if member["split"] else "duplicate")
    with column.container(border=True):
        st.caption(
            f"#{int(member['id'])} · {badge} · {member['status']} · {member['origin']} · row {member['source_row']}"
        )
        st.markdown(highlighted(text, kept_text, tokenizer) if not member["keep"] else inert(text))
        if pd.notna(member["score"]):
            st.caption(f"best pair score {member['score']:.4f}")
        disabled = runs.is_applied(run)
        if not member["keep"]:
            st.button(
                "Keep this row",
                key=f"dd_keep_{cluster}_{member['id']}",
                disabled=disabled,
                on_click=dedup_store.set_kept,
                args=(store, run["id"], cluster, int(member["id"])),
            )
        if member["split"]:
            st.button(
                "Put back",
                key=f"dd_unsplit_{cluster}_{member['id']}",
                disabled=disabled,
                on_click=dedup_store.set_split,
                args=(store, run["id"], int(member["id"]), False),
            )
        else:
            st.button(
                "Split off (not a duplicate)",
                key=f"dd_split_{cluster}_{member['id']}",
                disabled=disabled,
                on_click=runs.split_off,
                args=(store, run["id"], cluster, int(member["id"])),
            )


def cluster_review(run: dict) -> None:
    sort = st.radio("Sort clusters by", ["size", "score"], key="dd_sort", horizontal=True)
    clusters = dedup_store.cluster_summary(store, run["id"], sort)
    if clusters.empty:
        st.success("No duplicates at this threshold.")
        return
    st.dataframe(
        clusters[["cluster", "size", "active", "max_score", "accepted", "kept_id", "kept_instruction"]],
        hide_index=True,
        width="stretch",
    )
    options = clusters["cluster"].astype(int).tolist()
    info = {
        int(r.cluster): f"cluster {r.cluster} · {r.size} rows · best {r.max_score:.3f}" for r in clusters.itertuples()
    }
    cluster = st.selectbox("Cluster", options, key=f"dd_cluster_{run['id']}", format_func=info.get)
    members = dedup_store.cluster_members(store, run["id"], cluster)
    kept = members[members["keep"]]
    kept_text = scope_texts(kept, run["scope"])[0] if len(kept) else ""
    shown = members.head(MAX_SIDE_BY_SIDE)
    for start in range(0, len(shown), 3):
        columns = st.columns(3)
        for column, (_, member) in zip(columns, shown.iloc[start : start + 3].iterrows(), strict=False):
            member_card(column, run, cluster, member, kept_text)
    if len(members) > MAX_SIDE_BY_SIDE:
        st.caption(f"Showing {MAX_SIDE_BY_SIDE} of {len(members)} members; all are listed below.")
        st.dataframe(members[["id", "keep", "split", "status", "instruction"]], hide_index=True)
    with st.expander("Pair scores in this cluster"):
        st.dataframe(dedup_store.run_pairs(store, run["id"], members["id"].tolist()), hide_index=True)
    st.button(
        "Accept this cluster",
        key="dd_accept_cluster",
        on_click=dedup_store.set_accepted,
        args=(store, run["id"], True, cluster),
    )


def decisions(run: dict) -> None:
    applied = runs.is_applied(run)
    left, mid, right = st.columns(3)
    left.button("Accept all clusters", key="dd_accept_all", disabled=applied, on_click=_accept_all, args=(run["id"],))
    accepted = dedup_store.duplicate_rows(store, run["id"])
    mid.button(
        f"Apply: mark {len(accepted):,} rows duplicate",
        key="dd_apply",
        type="primary",
        disabled=applied or accepted.empty,
        on_click=_apply,
        args=(run["id"],),
    )
    right.button("Undo this dedup", key="dd_undo", disabled=not applied, on_click=_undo, args=(run,))
    if applied:
        st.caption(f"Applied as action #{run['applied_action']}; undo to change the decisions.")


def _accept_all(run_id: int) -> None:
    dedup_store.set_accepted(store, run_id, True)
    flash("info", "Every cluster accepted as proposed; press Apply to mark the duplicates.")


def _apply(run_id: int) -> None:
    try:
        result = runs.apply_run(store, run_id, author=author())
    except (KeyError, ValueError) as err:
        flash("error", inert(err))
        return
    flash("success", f"Marked {result.rows:,} rows duplicate (action #{result.action_id}).")


def _undo(run: dict) -> None:
    try:
        result = runs.undo_run(store, int(run["applied_action"]), author=author())
    except (KeyError, ValueError) as err:
        flash("error", inert(err))
        return
    flash("success", f"Undid action #{run['applied_action']}: {result.rows:,} rows restored.")


# -- contamination -------------------------------------------------------------------------------
def contamination_form() -> None:
    st.caption(
        "Compare the curated rows with an evaluation set. The evaluation file is only read, never stored; "
        "matching curated rows can be tagged 'contaminated' (undoable)."
    )
    upload = st.file_uploader("Evaluation file", key="dd_eval_file")
    pasted = st.text_area("…or paste evaluation rows as JSON lines", key="dd_eval_text", height=100)
    left, mid, right = st.columns(3)
    guessed = importers.guess_format(upload.name) if upload else "jsonl"
    formats = list(importers.FORMATS)
    fmt = left.selectbox("Format", formats, index=formats.index(guessed or "jsonl"), key="dd_eval_format")
    method = mid.radio("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="dd_eval_method")
    threshold = right.number_input(
        "Threshold", 0.01, 1.0, runs.DEFAULT_THRESHOLDS[method], 0.01, format="%.2f", key=f"dd_eval_t_{method}"
    )
    scope = st.selectbox("Compare", list(SCOPE_LABELS), format_func=SCOPE_LABELS.get, key="dd_eval_scope")
    data, name = (upload.getvalue(), upload.name) if upload else (pasted.encode(), "pasted.jsonl")
    busy = _running_job() is not None
    if st.button("Check contamination", key="dd_eval_start", disabled=busy or not data.strip()):
        try:
            importers.parse(data, name, fmt if upload else "jsonl")  # fail here, with the line, not in the job
        except InvalidInputError as err:
            st.error("The evaluation file cannot be read; the details say what to fix.")
            st.code("\n".join(err.errors), language=None, wrap_lines=True)
            return
        cfg = contamination.ContaminationConfig(method=method, threshold=float(threshold), scope=scope)
        job = contamination.contamination_job(data, name, fmt if upload else "jsonl", cfg, author())
        st.session_state.dd_job = runner.submit("contamination", job, {"eval_file": name})
        st.rerun()


def contamination_results() -> None:
    listed = dedup_store.list_runs(store, 20, methods=["contamination"])
    if listed.empty:
        return
    ids = listed["id"].astype(int).tolist()
    if st.session_state.get("dd_eval_run") not in ids:
        st.session_state.dd_eval_run = ids[0]
    run_id = st.selectbox("Contamination check", ids, key="dd_eval_run", format_func=lambda i: f"check #{i}")
    run = dedup_store.get_run(store, run_id)
    found = dedup_store.matches(store, run_id)
    st.metric(
        f"Curated rows matching {run['params'].get('eval_file', 'the evaluation set')}", found["example_id"].nunique()
    )
    if found.empty:
        return
    st.dataframe(found, hide_index=True, width="stretch")
    applied = runs.is_applied(run)
    left, right = st.columns(2)
    left.button(
        f"Tag {found['example_id'].nunique():,} rows 'contaminated'",
        key="dd_eval_tag",
        disabled=applied,
        on_click=_tag,
        args=(run_id,),
    )
    right.button("Undo tagging", key="dd_eval_untag", disabled=not applied, on_click=_undo, args=(run,))


def _tag(run_id: int) -> None:
    result = contamination.flag_matches(store, run_id, author=author())
    flash("success", f"Tagged {result.rows:,} rows 'contaminated' (action #{result.action_id}).")


# -- page ----------------------------------------------------------------------------------------
st.title("Deduplicate")
show_flash()
st.caption(
    "Near-duplicate instructions: exact rouge-score ROUGE-L (as the Self-Instruct filter) or embedding similarity. "
    "Runs are recorded; nothing changes until you apply, and one click undoes an applied dedup."
)
find, review, contaminated = st.tabs(["Find", "Review clusters", "Contamination"])
with find:
    run_form()
    job_progress()
with review:
    chosen = choose_run()
    if chosen is not None:
        run_summary(chosen)
        histogram_chart(chosen)
        cluster_review(chosen)
        decisions(chosen)
with contaminated:
    contamination_form()
    contamination_results()
