"""Generate: Self-Instruct runs (backend, sampling, filters), live progress by drop reason, review with provenance."""

from __future__ import annotations

import json
import os
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from curation.filters import ExampleFilter
from curation.generate import endpoints
from curation.generate import selfinstruct as si
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY
from curation.generate.llm import BACKENDS, make_llm
from curation.generate.selfinstruct_job import JOB_KIND, generation_job, job_params, resumable_run
from curation.io import importers
from curation.store import examples, jobs_table, revisions
from curation.store import templates as drops_table
from ui import feedback, judge, record
from ui import jobs as ui_jobs
from ui.charts import ranked_bars
from ui.feedback import refusal_shown
from ui.navigation import kept_tabs
from ui.selfchat import self_chat_section
from ui.state import author, get_runner, get_store
from ui.text import inert

FLASH = "gen_flash"
POSITION = "gen_review_position"  # the generated task shown (J / K)
DECISIONS = "gen_review_decisions"  # this session's review actions, newest last (U)
BACKEND_HELP = {
    "local": "a local transformers model (default: the packaged SmolLM2-135M-Instruct; slow on CPU)",
    "openai": "any OpenAI-compatible server: vLLM, llama.cpp server, Ollama, hosted APIs",
    "fake": "a deterministic stand-in for demos and tests",
}

store = get_store()
runner = get_runner()


flash = partial(feedback.flash, FLASH)
show_flash = partial(feedback.show_flash, FLASH)


# -- pool ----------------------------------------------------------------------------------------
@refusal_shown
def import_seeds() -> None:
    upload = st.session_state.get("gen_seed_upload")
    if upload is None:
        flash("warning", "Choose the seed file first.")
        return
    try:
        result = importers.import_bytes(store, upload.getvalue(), upload.name, "selfinstruct-seed", author=author())
    except importers.InvalidInputError as err:
        flash("error", "The seed file was not imported.", "\n".join(err.errors))
        return
    flash("success", f"Imported {result.rows:,} seed rows.")


def pool_section() -> bool:
    """Pool sizes; an importer when there are no seeds. True when generation can start."""
    try:
        pool = si.load_pool(store)
    except ValueError:
        st.warning("The pool has no seed tasks yet. Import the Self-Instruct seed file (seed_tasks.jsonl).")
        st.file_uploader("Self-Instruct seed file", type=["jsonl"], key="gen_seed_upload")
        st.button("Import seeds", key="gen_seed_import", on_click=import_seeds)
        return False
    cols = st.columns(3)
    cols[0].metric("Human seed tasks", f"{len(pool.seeds):,}")
    cols[1].metric("Machine tasks in the pool", f"{len(pool.machine):,}", help="Pending or approved; rejected leave.")
    rejected = examples.count(store, ExampleFilter(origins=["generated"], statuses=["rejected"]))
    cols[2].metric("Rejected generated rows", f"{rejected:,}")
    return True


# -- settings and start --------------------------------------------------------------------------
def backend_settings(backend: str) -> dict[str, Any]:
    if backend == "local":
        model = st.text_input("Model folder", key="gen_model", placeholder="empty: packaged SmolLM2-135M-Instruct")
        return {"model": model.strip() or None}
    if backend == "openai":
        cols = st.columns(2)
        if endpoints.team_mode():  # a team: only the admin's endpoints, no free text (and no hint of what is set)
            base_url, key_env = allowed_endpoint(cols[0])
            model = cols[1].text_input("Model name", key="gen_model_name")
            cols[1].caption("The key is read from the server's environment when the run starts; it is never stored.")
        else:
            base_url = cols[0].text_input("Base URL", key="gen_base_url", placeholder="http://127.0.0.1:8000/v1")
            model = cols[1].text_input("Model name", key="gen_model_name")
            key_env = cols[0].text_input("API key environment variable", value="OPENAI_API_KEY", key="gen_key_env")
            cols[1].caption("The key is read from the environment when the run starts; it is never stored.")
            cols[1].caption("Key variable is set." if os.environ.get(key_env) else "Key variable is not set.")
        chat = cols[0].checkbox("Use /chat/completions", key="gen_chat")
        timeout = cols[1].number_input("Timeout (s)", 1.0, 600.0, 60.0, key="gen_timeout")
        retries = cols[1].number_input("Retries (backoff + jitter, honours Retry-After)", 0, 10, 3, key="gen_retries")
        rpm = cols[0].number_input("Requests per minute (0: no limit)", 0, 1_000_000, 0, key="gen_rpm")
        tpm = cols[1].number_input("Tokens per minute (0: no limit)", 0, 100_000_000, 0, key="gen_tpm")
        return {
            "base_url": base_url.strip(),
            "model": model.strip(),
            "api_key_env": key_env.strip(),
            "chat": chat,
            "timeout": float(timeout),
            "max_retries": int(retries),
            "requests_per_min": int(rpm) or None,
            "tokens_per_min": int(tpm) or None,
        }
    return {}


def allowed_endpoint(column: Any) -> tuple[str, str]:
    """(base URL, key variable) picked from the admin's endpoint list; ("", "") when there is none."""
    listed = endpoints.allowed(store)
    if not listed:
        column.warning(
            "No LLM endpoint is allowed yet: an admin adds one with `python -m curation endpoints add VAR URL` "
            "(or the llm_endpoints setting)."
        )
        return "", ""
    chosen = column.selectbox("Endpoint", listed, format_func=lambda e: e.label, key="gen_endpoint")
    return chosen.base_url, chosen.api_key_env


def generation_settings() -> si.GenerationConfig:
    cols = st.columns(4)
    n = cols[0].number_input("Instructions to keep", 1, 100_000, 20, key="gen_n")
    temperature = cols[1].slider("Temperature", 0.0, 2.0, 0.7, 0.05, key="gen_temperature")
    top_p = cols[2].slider("Top-p", 0.05, 1.0, 0.5, 0.05, key="gen_top_p")
    max_tokens = cols[3].number_input("Max tokens per prompt", 16, 4096, 512, key="gen_max_tokens")
    cols = st.columns(4)
    threshold = cols[0].number_input("Drop if ROUGE-L >", 0.05, 1.0, 0.7, 0.05, key="gen_rouge")
    variant = cols[1].selectbox("Keyword blacklist", tuple(si.BLACKLISTS), key="gen_blacklist")
    extra = cols[2].text_input("More blacklisted words", key="gen_extra_words", placeholder="comma-separated")
    instance_tokens = cols[3].number_input("Max tokens per instance answer", 16, 4096, 300, key="gen_inst_tokens")
    cols = st.columns(4)
    seed = cols[0].number_input("Seed", 0, 2**31 - 1, 0, key="gen_seed")
    budget = cols[1].number_input("Give up after prompts (0: 4n+10)", 0, 1_000_000, 0, key="gen_max_prompts")
    batch = cols[2].number_input("Prompts per round", 1, 1024, 16, key="gen_prompt_batch")
    sampling = cols[3].selectbox("Which 5 instances", ("random", "first"), key="gen_instance_sampling")
    cols = st.columns(4)
    presence = cols[0].number_input("Presence penalty (tasks)", -2.0, 2.0, 2.0, 0.1, key="gen_presence")
    inst_presence = cols[1].number_input("Presence penalty (instances)", -2.0, 2.0, 1.5, 0.1, key="gen_inst_presence")
    capitalize = cols[2].checkbox("Capitalize as the original", value=True, key="gen_capitalize")
    keep_prefix = cols[3].checkbox("Keep items before a length cut", value=False, key="gen_keep_prefix")
    st.caption("Blacklist: " + ", ".join(si.BLACKLISTS[variant]))
    words = si.BLACKLISTS[variant] + tuple(w.strip() for w in extra.split(",") if w.strip())
    return si.GenerationConfig(
        n_instructions=int(n),
        temperature=float(temperature),
        top_p=float(top_p),
        max_tokens=int(max_tokens),
        instance_max_tokens=int(instance_tokens),
        rouge_threshold=float(threshold),
        blacklist=words,
        seed=int(seed),
        max_prompts=int(budget) or None,
        prompt_batch=int(batch),
        instance_sampling=sampling,
        presence_penalty=float(presence),
        instance_presence_penalty=float(inst_presence),
        capitalize=capitalize,
        keep_truncated_prefix=keep_prefix,
    )


def throughput_settings() -> tuple[int, float | None]:
    cols = st.columns(2)
    concurrency = cols[0].number_input(
        "Requests in flight", 1, 1024, DEFAULT_CONCURRENCY, key="gen_concurrency", help="Never changes decisions."
    )
    cost = cols[1].number_input("Cost per 1K tokens (0: not shown)", 0.0, 1000.0, 0.0, format="%.4f", key="gen_cost")
    return int(concurrency), float(cost) or None


@refusal_shown
def start(
    backend: str,
    options: dict[str, Any],
    cfg: si.GenerationConfig,
    concurrency: int,
    cost: float | None,
    resume_of: int | None = None,
) -> None:
    try:
        if resume_of is not None:
            _first, cfg = resumable_run(store, resume_of)
        llm = make_llm(backend, allowed=endpoints.allowed(store), **options, seed=cfg.seed)
        if resume_of is None:
            si.load_pool(store)
    except ValueError as err:
        flash("error", "The run did not start.", str(err))
        return
    job = generation_job(
        llm, cfg, backend=backend, author=author(), concurrency=concurrency, cost_per_1k=cost, resume_of=resume_of
    )
    params = job_params(cfg, backend, llm.name, options, concurrency=concurrency, resume_of=resume_of)
    job_id = runner.submit(JOB_KIND, job, params)
    st.session_state.gen_job = job_id
    flash("info", f"Started generation job #{job_id}" + (f" (resuming run #{resume_of})." if resume_of else "."))


def settings_section(can_start: bool) -> None:
    backend = st.radio("Backend", BACKENDS, key="gen_backend", horizontal=True, format_func=str)
    st.caption(BACKEND_HELP[backend])
    options = backend_settings(backend)
    try:
        cfg = generation_settings()
    except ValueError as err:
        st.error("These settings cannot be used.")
        st.code(str(err), language=None)
        return
    concurrency, cost = throughput_settings()
    running = ui_jobs.any_active(store, [JOB_KIND])
    st.button(
        "Start generation",
        key="gen_start",
        type="primary",
        disabled=not can_start or running,
        on_click=start,
        args=(backend, options, cfg, concurrency, cost),
    )
    if running:
        st.caption("A generation job is running; wait for it or cancel it below.")
    st.session_state.gen_resume_args = (backend, options, cfg, concurrency, cost)
    st.session_state.gen_backend_args = (backend, options, concurrency)


# -- progress ------------------------------------------------------------------------------------
def chosen_job() -> int | None:
    jobs = jobs_table.list_jobs(store, [JOB_KIND], 50)
    if jobs.empty:
        return None
    ids = jobs["id"].astype(int).tolist()
    if st.session_state.get("gen_job") not in ids:
        st.session_state.gen_job = ids[0]
    return st.selectbox("Generation run", ids, key="gen_job", format_func=lambda i: f"job #{i}")


def run_of(job: dict[str, Any]) -> int:
    """The run a job belongs to: itself, or the run it resumed."""
    return int((job.get("params") or {}).get("resume_of") or job["id"])


def resume_button(job: dict[str, Any]) -> None:
    if job["status"] in ("queued", "running") or (
        job["status"] == "succeeded" and not (job["result"] or {}).get("cancelled")
    ):
        return
    args = st.session_state.get("gen_resume_args")
    st.button(
        f"Resume run #{run_of(job)} (with the backend settings above)",
        key="gen_resume",
        disabled=args is None,
        on_click=start,
        args=(*(args or ()), run_of(job)),
    )


def drop_chart(job_id: int) -> None:
    counts = drops_table.drop_counts(store, job_id)
    if counts.empty:
        st.caption("Nothing dropped yet.")
        return
    reasons = pd.DataFrame({"value": counts["stage"] + ": " + counts["reason"], "count": counts["count"]})
    ranked_bars(reasons, "dropped because", key=f"gen_drops_{job_id}")


def _generation_summary(job: dict) -> str:
    result = job["result"]
    dropped = sum((result.get("dropped") or {}).values())
    budget = "; the prompt budget ran out first" if result.get("budget_spent") else ""
    return (
        f"Job #{job['id']} kept {result['kept']:,} tasks ({result['rows']:,} rows written as source "
        f"{result['source']}) from {result['prompts']:,} prompts; dropped {dropped:,} candidates{budget}."
    )


def progress_section(job_id: int) -> None:
    ui_jobs.job_panel(store, runner, job_id, key="gen_job", summary=_generation_summary, details=_job_details)


def _job_details(job: dict) -> None:
    """Token usage and cost, resume for an interrupted run, and the drop reasons (live while it runs)."""
    result = job["result"] or {}
    if usage := result.get("usage"):
        cost = f" · cost {result['cost']:.4f}" if result.get("cost") is not None else ""
        st.caption(
            f"{usage['requests']:,} requests · {usage['prompt_tokens']:,} prompt + "
            f"{usage['completion_tokens']:,} completion tokens{cost}"
        )
    resume_button(job)
    drop_chart(run_of(job))


# -- review --------------------------------------------------------------------------------------
@refusal_shown
def decide(ids: list[int], status: str) -> None:
    result = revisions.set_status(store, status, author=author(), ids=ids, kind="generation-review")
    if result.action_id:
        st.session_state.setdefault(DECISIONS, []).append(result.action_id)
    flash("success", f"{status.capitalize()}: {result.rows} rows (action #{result.action_id}).")


@refusal_shown
def undo_last() -> None:
    decisions = st.session_state.get(DECISIONS, [])
    if decisions:
        action_id = decisions.pop()
        revisions.undo_action(store, action_id, author=author())
        flash("info", f"Undid your last decision (action #{action_id}); that task is back for review.")


def step(delta: int) -> None:
    """J / K (and S, skip): the next or previous generated task, deciding nothing."""
    st.session_state[POSITION] = max(0, st.session_state.get(POSITION, 0) + delta)


def group_controls(ids: list[int], position: int, count: int) -> record.Controls:
    edges = ({"previous"} if position == 0 else set()) | ({"next", "skip"} if position >= count - 1 else set())
    return record.Controls(
        approve=partial(decide, ids, "approved"),
        reject=partial(decide, ids, "rejected"),
        skip=partial(step, 1),
        undo=undo_last,
        previous=partial(step, -1),
        next=partial(step, 1),
        disabled=edges | (set() if st.session_state.get(DECISIONS) else {"undo"}),
    )


def review_group(rows: pd.DataFrame, position: int, count: int) -> None:
    """One generated task (its instances share the instruction) in the record view's layout: decision bar on top,
    the texts in their own scrolling boxes, the provenance beside them."""
    first = rows.iloc[0]
    prov = json.loads(first["provenance"]) if isinstance(first["provenance"], str) else first["provenance"] or {}
    ids = rows["id"].astype(int).tolist()
    record.decision_bar("gen_review", group_controls(ids, position, count))
    st.markdown(
        inert(f"Task {position + 1} of {count} · rows {', '.join(map(str, ids))} · ")
        + inert(f"{prov.get('instance_order', '')} · model {prov.get('model')}")
    )
    text_col, side_col = st.columns([3, 2])
    with text_col:
        st.html(record.example_html(first, fields=("instruction",), max_height="20vh"))
        for number, (_, row) in enumerate(rows.iterrows(), start=1):
            st.caption(f"Instance {number} · #{int(row['id'])}")
            st.html(record.example_html(row, fields=("input", "output"), max_height="25vh"))
    with side_col:
        score = prov.get("max_rouge_l")
        st.metric("Max ROUGE-L against the pool", f"{score:.3f}" if score is not None else "not recorded")
        st.caption("The 10 most similar existing instructions:")
        st.dataframe(
            pd.DataFrame(prov.get("similar", []), columns=["instruction", "score"]), hide_index=True, width="stretch"
        )
        st.caption("Tasks shown in the prompt (6 seeds + 2 machine when available):")
        st.dataframe(
            pd.DataFrame(prov.get("prompt_tasks", []), columns=["kind", "example_id", "instruction"]),
            hide_index=True,
            width="stretch",
        )
        with st.expander("Full prompt"):
            st.code(prov.get("prompt", ""), language=None, wrap_lines=True)


def review_section(job_id: int | None) -> None:
    if job_id is None:
        st.caption("No generation run yet; rows generated elsewhere are reviewed on the Review page.")
        return
    job = jobs_table.get(store, job_id)
    run_id = run_of(job) if job else job_id
    only_job = st.checkbox("Only this run", value=True, key="gen_only_job")
    sources = [f"selfinstruct-job-{run_id}"] if only_job else []
    flt = ExampleFilter(origins=["generated"], statuses=["pending"], sources=sources)
    rows = examples.fetch(store, flt, ("id", "instruction", "input", "output", "provenance"))
    if rows.empty:
        if st.session_state.get(DECISIONS):
            record.decision_bar("gen_review", record.Controls(undo=undo_last))
        st.caption("No generated rows wait for review.")
        return
    groups = [g for _, g in rows.groupby("instruction", sort=False)]
    position = st.session_state[POSITION] = min(st.session_state.get(POSITION, 0), len(groups) - 1)
    st.markdown(f"**{len(groups):,} generated tasks** ({len(rows):,} rows) wait for review.")
    with st.container(border=True):
        review_group(groups[position], position, len(groups))


def drops_section(job_id: int) -> None:
    reason = st.selectbox("Reason", ("any", *si.DROP_REASONS), key="gen_drop_reason")
    drops = drops_table.list_drops(store, job_id, None if reason == "any" else reason, limit=500)
    if drops.empty:
        st.caption("No dropped candidates for this filter.")
        return
    st.dataframe(
        drops[["stage", "reason", "instruction", "input", "output", "detail"]], hide_index=True, width="stretch"
    )


# -- page ----------------------------------------------------------------------------------------
st.title("Generate")
st.caption("Self-Instruct: the model continues a list of 8 pool tasks; filters drop near-duplicates and bad tasks.")
show_flash()
st.subheader("Pool")
ready = pool_section()
with st.expander("New run", expanded=True):
    settings_section(ready)
st.subheader("Runs")
job = chosen_job()
if job is None:
    st.caption("No generation runs yet.")
else:
    progress_section(job)
review_tab, drops_tab, ratings_tab, evol_tab, chat_tab = kept_tabs(
    ["Review generated tasks", "Dropped candidates", "Quality ratings", "Evol-Instruct", "Self-chat"], "generate_tab"
)
with review_tab:
    review_section(job)
with drops_tab:
    if job is not None:
        drops_section(run_of(jobs_table.get(store, job) or {"id": job}))
with ratings_tab:
    judge.ratings_section(store, runner, flash, author())
with evol_tab:
    judge.evol_section(store, runner, flash)
with chat_tab:
    self_chat_section(store, runner, flash)
