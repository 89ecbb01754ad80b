"""Generate page: start a fake-backend run, see pending rows with their similar-10 context, approve one, drops."""

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
SEEDS = [
    "Give three tips for staying healthy.",
    "Write a limerick about a sleepy cat.",
    "Explain what a noun is to a child.",
    "Name the largest ocean on Earth.",
    "Suggest a title for a mystery novel.",
    "Convert ten miles to kilometres.",
    "Summarize the news article in one line.",
    "List four kinds of clouds.",
    "Translate the greeting into Spanish.",
    "Describe the smell of rain after a dry week.",
    "Recommend a board game for four players.",
    "Explain why bread goes stale.",
]


def _store() -> Store:
    return Store(os.environ["INSTRUCT_CURATOR_DB"])


def _import_seeds() -> None:
    lines = [
        json.dumps({"id": str(i), "name": f"s{i}", "instruction": s, "instances": [{"input": "", "output": "x"}]})
        for i, s in enumerate(SEEDS)
    ]
    importers.import_bytes(_store(), "\n".join(lines).encode(), "seed_tasks.jsonl", "selfinstruct-seed")


def _wait_for_job(job_id: int) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = jobs_table.get(_store(), job_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_empty_pool_asks_for_the_seed_file() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    assert "no seed tasks" in at.warning[0].value
    assert at.button(key="gen_start").disabled


def test_fake_run_review_with_similar_ten_and_approve() -> None:
    _import_seeds()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.metric[0].value == "12"
    at.radio(key="gen_backend").set_value("fake").run()
    at.number_input(key="gen_n").set_value(4).run()
    at.button(key="gen_start").click().run()
    job_id = int(at.session_state["gen_job"])
    job = _wait_for_job(job_id)
    assert job["status"] == "succeeded" and job["result"]["kept"] == 4
    at.run()
    assert not at.exception, at.exception
    assert any("4 generated tasks" in m.value for m in at.markdown)
    store = _store()
    pending = examples.fetch(store, ExampleFilter(origins=["generated"], statuses=["pending"]))
    similar, shown = (at.dataframe[i].value for i in range(2))  # the first task's provenance tables
    captions = [c.value for c in at.caption]
    assert "Instance 1 · #" in " ".join(captions)
    first_shown = [int(c.split("#")[1]) for c in captions if c.startswith("Instance ")]  # one task's instances
    assert len(shown) == 8 and set(shown["kind"]) == {"seed"}
    assert len(similar) == 10 and list(similar.columns) == ["instruction", "score"]
    assert set(similar["instruction"]) <= set(SEEDS) | set(pending["instruction"])
    assert similar["score"].is_monotonic_decreasing
    max_rouge = next(m.value for m in at.metric if m.label == "Max ROUGE-L against the pool")
    assert float(max_rouge) == round(float(similar["score"].iloc[0]), 3)
    instruction = pending.set_index("id").loc[first_shown[0], "instruction"]
    at.button(key="gen_review_approve").click().run()
    assert not at.exception, at.exception
    decided = examples.fetch(store, ExampleFilter(origins=["generated"], statuses=["approved"]))
    assert set(decided["instruction"]) == {instruction} and set(decided["id"]) == set(first_shown)
    assert any("3 generated tasks" in m.value for m in at.markdown)
    assert at.success[0].value.startswith("Approved:")
    at.button(key="gen_review_undo").click().run()  # U: the task is back
    assert any("4 generated tasks" in m.value for m in at.markdown)
    at.button(key="gen_review_next").click().run()  # J: the next task, nothing decided
    second = [int(c.value.split("#")[1]) for c in at.caption if c.value.startswith("Instance ")]
    assert second and not set(second) & set(first_shown) and any("Task 2 of 4" in m.value for m in at.markdown)


def test_dropped_candidates_are_listed_with_reasons() -> None:
    _import_seeds()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="gen_backend").set_value("fake").run()
    at.number_input(key="gen_n").set_value(6).run()
    at.button(key="gen_start").click().run()
    job = _wait_for_job(int(at.session_state["gen_job"]))
    at.run()
    dropped = sum(job["result"]["dropped"].values())
    assert dropped > 0
    table = at.dataframe[-1].value
    assert len(table) == dropped and set(table["reason"]) <= set(job["result"]["dropped"]) | {
        r.split(":")[1] for r in job["result"]["dropped"] if ":" in r
    }
    reason = table["reason"].iloc[0]
    at.selectbox(key="gen_drop_reason").select(reason).run()
    assert set(at.dataframe[-1].value["reason"]) == {reason}


def test_first_view_shows_only_this_runs_rows_and_a_cancelled_run_resumes() -> None:
    _import_seeds()
    store = _store()
    other = [
        {
            "instruction": "A generated row from elsewhere.",
            "output": "Its answer.",
            "origin": "generated",
            "status": "pending",
        }
    ]
    importers.import_bytes(store, json.dumps(other).encode(), "other.json", "alpaca")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    assert not any("generated tasks" in m.value for m in at.markdown)  # no run yet: no foreign rows, no "0.000"
    at.radio(key="gen_backend").set_value("fake").run()
    at.number_input(key="gen_n").set_value(3).run()
    at.number_input(key="gen_concurrency").set_value(4).run()
    at.number_input(key="gen_prompt_batch").set_value(2).run()
    at.button(key="gen_start").click().run()
    job_id = int(at.session_state["gen_job"])
    job = _wait_for_job(job_id)
    assert job["params"]["concurrency"] == 4 and job["params"]["config"]["prompt_batch"] == 2
    at.run()
    assert any("3 generated tasks" in m.value for m in at.markdown)
    assert all(m.value != "not recorded" for m in at.metric if m.label == "Max ROUGE-L against the pool")
    assert not any(b.key == "gen_resume" for b in at.button)  # a finished run offers no resume
    # an interrupted run (the app stopped before its first round ended) can be resumed from the page
    stopped = jobs_table.create(store, "selfinstruct", job["params"])
    jobs_table.finish(store, stopped, "failed", error="interrupted: the app stopped while it ran")
    at.run()
    at.selectbox(key="gen_job").select(stopped).run()
    at.button(key="gen_resume").click().run()
    assert not at.exception, at.exception
    resumed = _wait_for_job(int(at.session_state["gen_job"]))
    assert resumed["status"] == "succeeded" and resumed["params"]["resume_of"] == stopped
    assert resumed["result"]["source"] == f"selfinstruct-job-{stopped}" and resumed["result"]["kept"] == 3


def _wait_kind(kind: str) -> dict:
    store = _store()
    job_id = int(jobs_table.list_jobs(store, [kind], 1)["id"].iloc[0])
    return _wait_for_job(job_id)


def test_quality_ratings_histogram_reject_below_and_evol_rewrites() -> None:
    from curation.store import ratings as ratings_table
    from curation.store import revisions

    store = _store()
    rows = [
        {"instruction": f"Describe place {i} briefly.", "input": "", "output": f"Place {i} is calm."} for i in range(10)
    ]
    importers.import_bytes(store, json.dumps(rows).encode(), "rows.json", "alpaca")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    at.radio(key="gen_backend").set_value("fake").run()
    assert "Rate 10 rows" in at.button(key="judge_rate").label
    at.text_area(key="judge_prompt_accuracy").set_value("Rate {instruction} only").run()
    assert any("must contain {output}" in e.value for e in at.error)
    at.text_area(key="judge_prompt_accuracy").set_value(
        "Instruction: {instruction}\nResponse: {output}\nScore: 1-5\nReason: one line"
    ).run()
    at.button(key="judge_rate").click().run()
    assert _wait_kind("rating")["result"]["rated"] == 10
    at.run()
    assert not at.exception, at.exception
    job = _wait_kind("rating")  # the finished job says what it did, in words
    said = f"Job #{job['id']} rated 10 of 10 rows under rubric accuracy (0 answers without a usable score)."
    assert said in [m.value.replace("\\", "") for m in at.success]
    scores = ratings_table.ratings(store, "accuracy")
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(scores) == 10 and [s["encoding"]["x"]["title"] for s in specs] == ["judge score"]
    below = int((scores["score"] < 3).sum())
    at.number_input(key="judge_threshold").set_value(3.0).run()
    assert at.button(key="judge_reject").label == f"Reject {below} rows below 3"
    at.button(key="judge_reject").click().run()
    assert examples.count(store, ExampleFilter(statuses=["rejected"])) == below > 0
    action = revisions.list_actions(store, ["rating-reject"])
    assert len(action) == 1
    revisions.undo_action(store, int(action["id"].iloc[0]), author="t")
    assert examples.count(store, ExampleFilter(statuses=["rejected"])) == 0
    at.radio(key="judge_evol_mode").set_value("broader").run()
    at.button(key="judge_evolve").click().run()
    evolved = _wait_kind("evol")
    assert evolved["result"]["rows"] == 10
    at.run()
    said = [m.value.replace("\\", "") for m in at.success]
    assert (
        f"Job #{evolved['id']} rewrote 10 rows and added 10 pending rows as source evol-job-{evolved['id']}"
        in " ".join(said)
    ), said
    new = examples.fetch(store, ExampleFilter(sources=[evolved["result"]["source"]]))
    assert set(new["status"]) == {"pending"} and sorted(json.loads(p)["parent_id"] for p in new["provenance"]) == list(
        range(1, 11)
    )


def test_browse_sidebar_filters_by_judge_rating() -> None:
    from curation.store import ratings as ratings_table

    browse = str(Path(PAGE).parent / "1_Browse.py")
    store = _store()
    rows = [{"instruction": f"Name a colour, take {i}.", "input": "", "output": "Blue."} for i in range(6)]
    ids = examples.add_examples(
        store, __import__("pandas").DataFrame(rows), examples.SourceInfo(name="rated", format="test")
    )
    ratings_table.save_ratings(store, "accuracy", [(i, float(n % 5 + 1), "r") for n, i in enumerate(ids)], "m", 0)
    at = AppTest.from_file(browse, default_timeout=60).run()
    assert not at.exception, at.exception
    at.selectbox(key="filter_w_rating_rubric").select("accuracy").run()
    at.number_input(key="filter_w_min_rating").set_value(4.0).run()
    expected = examples.count(store, ExampleFilter(rating_rubric="accuracy", min_rating=4))
    assert expected == 2
    assert next(m.value for m in at.markdown if "matching rows" in m.value).startswith(f"**{expected} matching rows**")
