"""Dedup: find near-duplicates (exact ROUGE-L or embeddings) as a job, review clusters, apply, undo; contamination."""

from __future__ import annotations

from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from curation import config, executors
from curation.dedup import contamination, embeddings, encoder, index, runs, scopes
from curation.dedup.clusters import GREEDY_ORDERS, KeepRule
from curation.dedup.scopes import SCOPE_LABELS
from curation.filters import ORIGINS, STATUSES
from curation.io import importers
from curation.io.importers import InvalidInputError
from curation.store import dedup as dedup_store
from curation.store import examples, jobs_table
from ui import feedback, record
from ui import jobs as ui_jobs
from ui.drop_report import what_did_it_change
from ui.feedback import refusal_shown
from ui.navigation import kept_tabs
from ui.record import example_html
from ui.state import author, get_runner, get_store
from ui.text import inert, plain_cells

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
    mode = left.radio(
        "Mode",
        list(runs.MODES),
        key="dd_mode",
        format_func={"pairs": "all pairs → clusters", "greedy": "greedy Self-Instruct filter"}.get,
    )
    order = mid.selectbox("Greedy order", GREEDY_ORDERS, key="dd_order", disabled=mode != "greedy")
    scope = scope_choice(right)
    left, mid, right = st.columns(3)
    default = runs.DEFAULT_THRESHOLDS[method]
    threshold = left.number_input("Threshold", 0.01, 1.0, default, 0.01, format="%.2f", key=f"dd_threshold_{method}")
    rules = list(RULE_LABELS)
    rule = mid.radio(  # greedy mode is the Self-Instruct filter: "drop when > threshold" unless changed
        "Duplicate when",
        rules,
        index=rules.index(runs.default_rule(mode)),
        format_func=RULE_LABELS.get,
        key=f"dd_rule_{mode}",
    )
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
    backend, search, runnable = embedding_form() if method == "embedding" else (None, None, True)
    ray_address = where_form()
    keep = keep_rule_form()
    busy = _running_job() is not None
    runnable = runnable and ray_address is not None
    if st.button("Find duplicates", key="dd_start", type="primary", disabled=busy or not statuses or not runnable):
        try:
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
                embedding_backend=backend,
                embedding_search=search,
            )
            executor = executors.for_address(ray_address)
            params = cfg.params() | {"executor": executor.name, "ray_address": ray_address}
            job_id = runner.submit(f"dedup-{method}", runs.dedup_job(cfg, author(), executor=executor), params)
        except ValueError as err:  # bad settings, or a role that may not start it
            st.error(inert(err))
            return
        st.session_state.dd_job = job_id
        flash("info", f"Started dedup job #{job_id}.")
        st.rerun()
    if busy:
        st.caption("A dedup job is running; wait for it or cancel it below.")


def scope_choice(cell) -> str:
    """What is compared; defaults to instruction + input when the rows to compare have inputs (said below)."""
    flt = runs.DedupConfig(
        sources=tuple(st.session_state.get("dd_sources", ())),
        statuses=tuple(st.session_state.get("dd_statuses", ("pending", "approved"))),
    ).example_filter()
    with_input, total = scopes.rows_with_input(store, flt), examples.count(store, flt)
    scope_names = list(SCOPE_LABELS)
    default = scopes.default_scope(with_input)
    scope = cell.selectbox(
        "Compare", scope_names, index=scope_names.index(default), format_func=SCOPE_LABELS.get, key="dd_scope"
    )
    if with_input:
        cell.caption(
            f"{with_input:,} of {total:,} rows to compare have an input, so the default compares instruction + "
            "input: the same instruction on different inputs is a different task."
        )
    return scope


BACKEND_LABELS = {
    "auto": "auto (fastest faithful runtime here)",
    "openvino-bf16": "OpenVINO bf16 (CPU with bf16 units)",
    "onnx": "ONNX Runtime fp32",
    "onnx-int8": "ONNX Runtime int8 (faster, cosine ~0.99: pairs near the threshold change)",
    "torch": "PyTorch fp32 (sentence-transformers as is)",
    "cuda-fp16": "CUDA fp16 (GPU)",
}
SEARCH_LABELS = {
    "auto": f"auto (exact up to {index.EXACT_MAX_ROWS:,} rows, then index candidates with exact re-scoring)",
    "exact": "exact (every pair)",
    "index": "index candidates (k-means lists), exact re-scoring",
}


def where_form() -> str | None:
    """Where the parallel stages run: '' (this process) or a Ray address (default: the ray_address setting);
    None while Ray is chosen without an address."""
    setting = config.get("ray_address")
    installed = executors.ray_installed()
    left, right = st.columns(2)
    where = left.radio(
        "Run the parallel stages",
        ["here", "ray"],
        index=1 if setting and installed else 0,
        format_func={"here": "in this process", "ray": "on Ray (this machine or a cluster)"}.get,
        key="dd_where",
        horizontal=True,
        disabled=not installed,
        help=None if installed else 'Ray is not installed: pip install "ray[data]"',
    )
    address = right.text_input(
        "Ray address",
        value=setting or "local",
        key="dd_ray_address",
        disabled=where != "ray",
        help="'local' starts Ray on this machine, 'auto' joins the cluster of this node, 'ray://head:10001' a "
        "remote one. Chunks of the compared texts go to the workers through Ray's object store; clustering and the "
        "keep decision stay here.",
    )
    if where == "ray" and not address.strip():
        st.caption("Give a Ray address, or run in this process.")
        return None
    return address.strip() if where == "ray" else ""


def _setting_index(options: list[str], setting: str) -> int:
    """Position of the setting's value among `options` (the first option when it is not one of them)."""
    value = config.get(setting)
    return options.index(value) if value in options else 0


def embedding_form() -> tuple[str, str, bool]:
    """Embedding runtime and cosine search (defaults: the embedding_backend / embedding_search settings); says
    what will run, or why the chosen runtime cannot (then a run cannot start)."""
    left, right = st.columns(2)
    backends, searches = list(BACKEND_LABELS), list(SEARCH_LABELS)
    backend = left.selectbox(
        "Embedding runtime",
        backends,
        index=_setting_index(backends, "embedding_backend"),
        format_func=BACKEND_LABELS.get,
        key="dd_backend",
    )
    search = right.selectbox(
        "Cosine search",
        searches,
        index=_setting_index(searches, "embedding_search"),
        format_func=SEARCH_LABELS.get,
        key="dd_search",
    )
    try:
        runtime = encoder.backend_for(embeddings.model_dir(), backend)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        st.error(inert(f"Embedding runtime {backend}: {exc}"))
        return backend, search, False
    st.caption(f"Embeddings run on **{runtime}**; progress shows as rows are embedded, then searched.")
    return backend, search, True


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


def _dedup_summary(job: dict) -> str:
    result = job["result"]
    if "pairs" not in result:
        return f"Job #{job['id']} finished: {job['message'] or 'done'}."
    embedded = (
        f"; {result['embedded']:,} rows embedded with {result['embedding_backend']}"
        if result.get("embedding_backend")
        else ""
    )
    return (
        f"Job #{job['id']} (run #{result['run_id']}): {result['pairs']:,} pairs, {result['clusters']:,} clusters, "
        f"{result['duplicates']:,} duplicates proposed{embedded}; see Review clusters."
    )


def _select_finished_run(job: dict) -> None:
    run_id = (job.get("result") or {}).get("run_id")
    if job["status"] == "succeeded" and run_id:
        st.session_state["dd_eval_run" if job["kind"] == "contamination" else "dd_run"] = int(run_id)


def job_progress() -> None:
    job_id = ui_jobs.current_job_id(store, JOB_KINDS, "dd_job")
    if job_id is not None:
        ui_jobs.job_panel(store, runner, job_id, key="dd_job", summary=_dedup_summary, on_finish=_select_finished_run)


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


def member_card(column, run: dict, cluster: int, member: pd.Series, kept: pd.Series | None, fields) -> None:
    tokenizer = run["params"].get("tokenizer", "rouge")
    other = None if kept is None or member["keep"] else kept
    badge = "KEPT" if member["keep"] else ("split off" if member["split"] else "duplicate")
    with column.container(border=True):
        st.caption(
            f"#{int(member['id'])} · {badge} · {member['status']} · {member['origin']} · row {member['source_row']}"
        )
        st.html(example_html(member, other, fields=fields, tokenizer=tokenizer, max_height="10em"))
        if pd.notna(member["score"]) and kept is not None and not member["keep"]:
            st.caption(f"score vs kept #{int(kept['id'])}: {runs.score_text(member['score'])}")
        disabled = runs.is_applied(run)
        if not member["keep"]:
            st.button(
                "Keep this row",
                key=f"dd_keep_{cluster}_{member['id']}",
                disabled=disabled,
                on_click=_keep,
                args=(run["id"], cluster, int(member["id"])),
            )
        if member["split"]:
            st.button(
                "Put back",
                key=f"dd_unsplit_{cluster}_{member['id']}",
                disabled=disabled,
                on_click=refusal_shown(dedup_store.set_split),
                args=(store, run["id"], int(member["id"]), False),
            )
        else:
            st.button(
                "Split off (not a duplicate)",
                key=f"dd_split_{cluster}_{member['id']}",
                disabled=disabled,
                on_click=_split,
                args=(run["id"], cluster, int(member["id"])),
            )


@refusal_shown
def _keep(run_id: int, cluster: int, example_id: int) -> None:
    unmatched = dedup_store.set_kept(store, run_id, cluster, example_id)
    _say_unmatched(unmatched, example_id)


@refusal_shown
def _split(run_id: int, cluster: int, example_id: int) -> None:
    _say_unmatched(runs.split_off(store, run_id, cluster, example_id), None)


def _say_unmatched(unmatched: int, kept_id: int | None) -> None:
    if unmatched:
        who = f"#{kept_id}" if kept_id else "the new kept row"
        flash("info", f"{unmatched} rows do not match {who} at the threshold and were split off (not marked).")


def cluster_review(run: dict) -> None:
    left, right = st.columns([1, 2])
    sort = left.radio("Sort clusters by", ["size", "score"], key="dd_sort", horizontal=True)
    search = right.text_input("Search clusters (instruction or input contains)", key="dd_cluster_search")
    clusters = dedup_store.cluster_summary(store, run["id"], sort, search=search)
    if clusters.empty and search.strip():
        st.info(inert(f"No cluster has a row containing {search.strip()!r}."))
        return
    if clusters.empty:
        st.success("No duplicates at this threshold.")
        return
    options = clusters["cluster"].astype(int).tolist()
    key = f"dd_cluster_{run['id']}"
    picked = st.dataframe(
        clusters[["cluster", "size", "active", "max_score", "accepted", "kept_id", "kept_instruction"]],
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"dd_cluster_table_{run['id']}",
    )
    _jump_to_selected(picked, options, key)
    info = {
        int(r.cluster): f"cluster {r.cluster} · {r.size} rows · best {r.max_score:.3f}" for r in clusters.itertuples()
    }
    st.caption("Select a row of the table to open that cluster.")
    cluster = st.selectbox("Cluster", options, key=key, format_func=info.get)
    cluster_keys(run, options, options.index(cluster), key)
    members = dedup_store.cluster_members(store, run["id"], cluster)
    kept_rows = members[members["keep"]]
    kept = kept_rows.iloc[0] if len(kept_rows) else None
    inputs = members["input"].fillna("").str.strip()
    fields = ("instruction", "input", "output") if inputs.ne("").any() else ("instruction", "output")
    if inputs.nunique() > 1:
        again = " or run again comparing instruction + input" if run["scope"] == "instruction" else ""
        st.warning(
            f"The members of this cluster differ in input ({inputs.nunique()} different inputs); this run "
            f"compared {SCOPE_LABELS[run['scope']]}. The same instruction on a different input is usually a "
            f"different task: split off the rows that are not duplicates{again}."
        )
    st.caption("Tokens a row shares with the kept row are marked, field by field.")
    shown = members.head(MAX_SIDE_BY_SIDE)
    for start in range(0, len(shown), 3):
        columns = st.columns(3)
        for column, (_, member) in zip(columns, shown.iloc[start : start + 3].iterrows(), strict=False):
            member_card(column, run, cluster, member, kept, fields)
    if len(members) > MAX_SIDE_BY_SIDE:
        st.caption(f"Showing {MAX_SIDE_BY_SIDE} of {len(members)} members; all are listed below.")
        scores = ["" if pd.isna(v) else runs.score_text(v) for v in members["score"]]  # the kept row has none
        shown = members[["id", "keep", "split", "status", "instruction", "input"]].assign(score=scores)
        st.dataframe(plain_cells(shown), hide_index=True)
    with st.expander("Pair scores in this cluster"):
        st.dataframe(dedup_store.run_pairs(store, run["id"], members["id"].tolist()), hide_index=True)


def cluster_keys(run: dict, options: list[int], position: int, key: str) -> None:
    """The review keys on clusters: A accepts the cluster, D splits it off (not duplicates), K / J move."""
    cluster, applied = options[position], runs.is_applied(run)
    edges = ({"previous"} if position == 0 else set()) | ({"next"} if position == len(options) - 1 else set())
    controls = record.Controls(
        approve=partial(refusal_shown(dedup_store.set_accepted), store, run["id"], True, cluster),
        reject=partial(_not_duplicates, run["id"], cluster),
        previous=partial(_move, key, options, position - 1),
        next=partial(_move, key, options, position + 1),
        labels={"approve": "Accept this cluster", "reject": "Not duplicates (split off all)"},
        disabled=edges | ({"approve", "reject"} if applied else set()),
    )
    record.decision_bar("dd_review", controls)


def _move(key: str, options: list[int], position: int) -> None:
    st.session_state[key] = options[max(0, min(position, len(options) - 1))]


def _jump_to_selected(picked, options: list[int], key: str) -> None:
    """Open the cluster of a newly selected table row (later picks in the selectbox are not overridden)."""
    rows = list(getattr(getattr(picked, "selection", None), "rows", None) or [])
    target = options[rows[0]] if rows and rows[0] < len(options) else None
    if target is not None and st.session_state.get(f"{key}_jumped") != target:
        st.session_state[key] = target
    st.session_state[f"{key}_jumped"] = target


@refusal_shown
def _not_duplicates(run_id: int, cluster: int) -> None:
    n = dedup_store.split_cluster(store, run_id, cluster)
    flash("info", f"Cluster {cluster}: {n} rows split off; applying this run leaves them as they are.")


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
        action_id = int(run["applied_action"])
        st.caption(f"Applied as action #{action_id}; undo to change the decisions.")
        what_did_it_change(
            store, action_id, key=f"dd_report_{action_id}", label=f"What did it remove? (action #{action_id})",
            expanded=st.session_state.get("dd_just_applied") == action_id,
        )  # fmt: skip


@refusal_shown
def _accept_all(run_id: int) -> None:
    dedup_store.set_accepted(store, run_id, True)
    flash("info", "Every cluster accepted as proposed; press Apply to mark the duplicates.")


@refusal_shown
def _apply(run_id: int) -> None:
    try:
        result = runs.apply_run(store, run_id, author=author())
    except (KeyError, ValueError) as err:
        flash("error", inert(err))
        return
    flash("success", f"Marked {result.rows:,} rows duplicate (action #{result.action_id}).")
    st.session_state.dd_just_applied = result.action_id


@refusal_shown
def _undo(run: dict, force: bool = False) -> None:
    action_id = int(run["applied_action"])
    st.session_state.pop("dd_undo_conflict", None)
    try:
        result = runs.undo_run(store, action_id, author=author(), force=force)
    except runs.ChangedSinceApply as err:
        st.session_state.dd_undo_conflict = {"run": run, "message": str(err), "changed": err.changed}
        return
    except (KeyError, ValueError) as err:
        flash("error", inert(err))
        return
    flash("success", f"Undid action #{action_id}: {result.rows:,} rows restored.")


def undo_conflict(run: dict) -> None:
    """Rows changed since the apply: listed, with an explicit 'undo anyway'."""
    conflict = st.session_state.get("dd_undo_conflict")
    if not conflict or conflict["run"]["id"] != run["id"] or not runs.is_applied(run):
        return
    st.warning(inert(f"Not undone: {conflict['message']}"))
    st.dataframe(conflict["changed"], hide_index=True, key="dd_undo_changed")
    st.button("Undo anyway (overwrite those later changes)", key="dd_undo_force", on_click=_undo, args=(run, True))


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
        try:
            st.session_state.dd_job = runner.submit("contamination", job, {"eval_file": name})
        except ValueError as err:  # a role that may not start it
            st.error(inert(err))
            return
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
    undo_conflict(run)


@refusal_shown
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
find, review, contaminated = kept_tabs(["Find", "Review clusters", "Contamination"], "dedup_tab")
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
        undo_conflict(chosen)
with contaminated:
    contamination_form()
    contamination_results()
