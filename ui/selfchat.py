"""Generate page: self-chat over the shared filter's rows (seed instructions grow into multi-turn conversations)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from curation.generate import selfchat
from curation.jobs import JobRunner
from curation.store import Store, examples
from ui import jobs as ui_jobs
from ui.filters import current_filter
from ui.judge import Flash, _start


def _summary(job: dict[str, Any]) -> str:
    result = job["result"]
    stops = ", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in result.items() if k.endswith("question") and v)
    stops += f"{', ' if stops else ''}empty answer: {result['empty_answer']:,}" if result.get("empty_answer") else ""
    return (
        f"Job #{job['id']} grew {result['parents']:,} rows into {result['rows']:,} pending conversations as source "
        f"{result['source']}" + (f" (stopped early: {stops})." if stops else ".")
    )


def self_chat_section(store: Store, runner: JobRunner, flash: Flash) -> None:
    """Turns, prompts and a start button; the conversations wait for review in Browse (source self-chat-job-N)."""
    flt = current_filter()
    left, right = st.columns([1, 3])
    turns = left.number_input("Exchanges per conversation", 1, 20, 3, key="selfchat_turns")
    system = right.text_input("System prompt (optional)", key="selfchat_system")
    user_prompt = st.text_area(
        "User simulator prompt ({transcript})", value=selfchat.USER_PROMPT, height=110, key="selfchat_user"
    )
    assistant_prompt = st.text_area(
        "Assistant prompt ({transcript})", value=selfchat.ASSISTANT_PROMPT, height=90, key="selfchat_assistant"
    )
    count = examples.count(store, flt)
    st.caption(
        f"Seeds: the shared filter ({flt.describe()}): {count:,} rows; each instruction opens one conversation. "
        "New rows are pending, linked to their seed."
    )
    try:
        cfg = selfchat.SelfChatConfig(
            turns=int(turns), system=system, user_prompt=user_prompt, assistant_prompt=assistant_prompt
        )
    except ValueError as err:
        st.error(str(err))
        return

    def make(llm: Any, backend: str, concurrency: int):
        return selfchat.self_chat_job(llm, cfg, flt, backend=backend, concurrency=concurrency)

    params = {"turns": int(turns), "filter": flt.to_dict()}
    st.button(
        f"Start {count:,} conversations",
        key="selfchat_start",
        disabled=count == 0,
        on_click=_start,
        args=(store, runner, flash, selfchat.JOB_KIND, make, params),
    )
    job_id = ui_jobs.current_job_id(store, [selfchat.JOB_KIND], f"judge_{selfchat.JOB_KIND}_job")
    if job_id is not None:
        ui_jobs.job_panel(store, runner, job_id, key="selfchat_panel", summary=_summary)
