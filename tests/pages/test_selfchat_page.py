"""Generate page, Self-chat tab: seeds from the shared filter grow into pending conversations (fake backend)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from curation.filters import ExampleFilter
from curation.io import importers
from curation.store import Store, examples, jobs_table

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "6_Generate.py")


def wait_for(store: Store, kind: str) -> dict:
    for _ in range(600):
        jobs = jobs_table.list_jobs(store, [kind], 1)
        if not jobs.empty and jobs["status"].iloc[0] in jobs_table.FINISHED:
            return jobs_table.get(store, int(jobs["id"].iloc[0]))
        time.sleep(0.1)
    raise AssertionError(f"no {kind} job ended")


def test_self_chat_tab_starts_a_job_and_says_what_it_made() -> None:
    AppTest.from_file(PAGE, default_timeout=60).run()
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    rows = [{"instruction": f"Tell me about river {i}.", "input": "", "output": ""} for i in range(4)]
    importers.import_bytes(store, json.dumps(rows).encode(), "rows.json", "alpaca", allow_missing_output=True)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="gen_backend").set_value("fake").run()
    at.number_input(key="selfchat_turns").set_value(2).run()
    at.text_area(key="selfchat_user").set_value("no placeholder").run()
    assert any("user_prompt must contain {transcript}" in e.value.replace("\\", "") for e in at.error)
    at.text_area(key="selfchat_user").set_value("Next question after:\n{transcript}\nUser:").run()
    assert at.button(key="selfchat_start").label == "Start 4 conversations"
    at.button(key="selfchat_start").click().run()
    job = wait_for(store, "self-chat")
    assert job["status"] == "succeeded", job
    at.run()
    said = " ".join(m.value.replace("\\", "") for m in at.success)
    assert f"Job #{job['id']} grew 4 rows into 4 pending conversations as source self-chat-job-{job['id']}" in said
    made = examples.fetch(store, ExampleFilter(sources=[f"self-chat-job-{job['id']}"]), ("messages", "status"))
    assert set(made["status"]) == {"pending"}
    assert [[t["role"] for t in json.loads(m)] for m in made["messages"]] == [["user", "assistant"] * 2] * 4
