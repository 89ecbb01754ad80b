"""CLI: `template list/add/edit/delete/add-task/apply` and `generate` / `generate-drops` on a temp database."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

import curation.cli
from curation.filters import ExampleFilter
from curation.store import Store, examples

runner = CliRunner()


def _cli(db: Path, *args: str):
    return runner.invoke(curation.cli.app, ["--db", str(db), *args])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.duckdb"


def _rows(db: Path, flt: ExampleFilter):
    store = Store(db)
    try:
        return examples.fetch(store, flt)
    finally:
        store.close()


def test_template_list_and_crud(db: Path) -> None:
    out = _cli(db, "template", "list")
    assert out.exit_code == 0
    assert "nli" in out.stdout and "yes | it is not possible to tell | no" in out.stdout
    listed = json.loads(_cli(db, "template", "list", "--task", "sentiment", "--json").stdout)
    assert [t["id"] for t in listed][:2] == ["sentiment/1", "sentiment/2"]
    bad = _cli(db, "template", "add", "nli", "--input", "{premise} {colour}")
    assert bad.exit_code == 1
    assert "unknown placeholder {colour} in the input" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    no_answer = _cli(db, "template", "add", "nli", "--input", "{premise}", "--target", "label")
    assert no_answer.exit_code == 1 and "no answer placeholder" in no_answer.stderr
    good = _cli(db, "template", "add", "nli", "--input", "P: {premise}\\nH: {hypothesis}\\n{options_}")
    assert good.exit_code == 0 and good.stdout.strip() == "added template nli/7"
    assert _cli(db, "template", "edit", "nli/7", "--input", "{premise}?", "--target", "A: {answer}").exit_code == 0
    shown = json.loads(_cli(db, "template", "list", "--task", "nli", "--json").stdout)
    assert shown[-1] == {"id": "nli/7", "input": "{premise}?", "target": "A: {answer}"}
    assert (
        _cli(db, "template", "delete", "nli/7").stdout.strip()
        == "deleted template nli/7 (action 3; `undo 3` restores it)"
    )
    assert _cli(db, "template", "delete", "nli/7").exit_code == 1
    assert _cli(db, "undo", "3").exit_code == 0  # the delete, then the edit, are undone as new versions
    assert json.loads(_cli(db, "template", "list", "--task", "nli", "--json").stdout)[-1]["input"] == "{premise}?"
    assert _cli(db, "undo", "2").exit_code == 0
    assert json.loads(_cli(db, "template", "list", "--task", "nli", "--json").stdout)[-1]["target"] == "{answer}"


def test_apply_uploaded_file_with_mapping(db: Path, tmp_path: Path) -> None:
    data = tmp_path / "topics.csv"
    data.write_text(
        "headline,label\nStocks rally on jobs data,business\nTeam wins the cup,sport\nNew tax rules,business\n"
    )
    created = _cli(
        db,
        "template",
        "add-task",
        "topic",
        "--cluster",
        "topic classification",
        "--fields",
        "headline",
        "--options",
        "business,sport",
    )
    assert created.exit_code == 0
    assert _cli(db, "template", "add", "topic", "--input", "Headline: {headline}\\n{options_}").exit_code == 0
    mapping = json.dumps({"answer": "label"})
    preview = _cli(db, "template", "apply", "topic", "--file", str(data), "--mapping", mapping, "--preview", "1")
    assert preview.exit_code == 0
    assert "Headline: Stocks rally on jobs data\nOPTIONS:\n- business\n- sport\n-> business" in preview.stdout
    assert _rows(db, ExampleFilter(origins=["templated"])).empty
    done = _cli(
        db,
        "template",
        "apply",
        "topic",
        "--file",
        str(data),
        "--mapping",
        mapping,
        "--format",
        "few-shot",
        "--k",
        "1",
        "--fewshot-style",
        "qa",
        "--seed",
        "3",
    )
    assert done.exit_code == 0 and "wrote 3 templated rows" in done.stdout
    rows = _rows(db, ExampleFilter(origins=["templated"]))
    assert rows["task"].tolist() == ["topic"] * 3 and set(rows["format"]) == {"few-shot"}
    assert rows["instruction"][0].startswith("Q: Headline: ") and rows["instruction"][0].endswith("\n\nA:")
    assert json.loads(rows["provenance"][0])["seed"] == 3


def test_apply_argument_errors(db: Path, tmp_path: Path) -> None:
    both = _cli(db, "template", "apply", "nli", "--sample", "--source", "x")
    assert both.exit_code == 2 and "--file" in both.stderr
    assert _cli(db, "template", "apply", "nli", "--sample", "--format", "one-shot").exit_code == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("premise,hypothesis,answer\na,b,maybe\n")
    out = _cli(db, "template", "apply", "nli", "--file", str(bad))
    assert out.exit_code == 1 and "bad.csv line 2: answer 'maybe' is not one of the task's options" in out.stderr
    assert _cli(db, "template", "apply", "arithmetic", "--sample", "--format", "cot").exit_code == 0


def _seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed_tasks.jsonl"
    seeds = [
        "Give three tips for staying healthy.",
        "Write a limerick about a cat.",
        "Explain what a noun is.",
        "Name the largest ocean on Earth.",
        "Suggest a title for a mystery novel.",
        "Convert ten miles to km.",
        "Summarize the news article.",
        "List four kinds of clouds.",
    ]
    lines = [
        json.dumps(
            {
                "id": str(i),
                "name": f"s{i}",
                "instruction": s,
                "is_classification": False,
                "instances": [{"input": "", "output": "x"}],
            }
        )
        for i, s in enumerate(seeds)
    ]
    path.write_text("\n".join(lines))
    return path


def test_generate_with_fake_backend(db: Path, tmp_path: Path) -> None:
    out = _cli(db, "generate", "--backend", "fake", "--n", "5", "--seeds", str(_seed_file(tmp_path)), "--seed", "2")
    assert out.exit_code == 0, out.output
    assert "imported 8 seed rows" in out.stdout and "kept 5 instructions" in out.stdout
    rows = _rows(db, ExampleFilter(origins=["generated"]))
    assert rows["instruction"].nunique() == 5 and set(rows["status"]) == {"pending"}
    drops = _cli(db, "generate-drops", "--job", "1")
    assert drops.exit_code == 0 and "counts:" in drops.stdout and "dropped candidates:" in drops.stdout
    assert _cli(db, "generate-drops", "--reason", "nope").exit_code == 2


def test_generate_errors(db: Path, tmp_path: Path) -> None:
    missing = _cli(db, "generate", "--backend", "openai", "--n", "2")
    assert missing.exit_code == 2 and "--base-url" in missing.stderr
    assert _cli(db, "generate", "--backend", "gpt").exit_code == 2
    empty = _cli(db, "generate", "--backend", "fake", "--n", "2")
    assert empty.exit_code == 1 and "no seed tasks" in empty.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = _cli(
        db,
        "generate",
        "--backend",
        "openai",
        "--base-url",
        f"http://127.0.0.1:{port}/v1",
        "--model",
        "m",
        "--n",
        "2",
        "--max-retries",
        "0",
        "--seeds",
        str(_seed_file(tmp_path)),
    )
    assert out.exit_code == 1 and "error: cannot get a completion" in out.stderr


def test_generate_concurrent_openai_cost_and_resume(db: Path, tmp_path: Path) -> None:
    from curation.generate.fake_server import FakeOpenAIServer
    from curation.store import Store, jobs_table

    with FakeOpenAIServer(seed=1) as server:
        base = ["generate", "--backend", "openai", "--base-url", server.url, "--model", "fake", "--api-key-env", ""]
        out = _cli(
            db, *base, "--n", "4", "--seeds", str(_seed_file(tmp_path)), "--concurrency", "4", "--cost-per-1k", "2"
        )
        assert out.exit_code == 0, out.output
        assert "kept 4 instructions" in out.stdout and f"requests {server.requests}," in out.stdout
        assert ", cost " in out.stdout and 1 <= server.peak_in_flight <= 4
        done = _cli(db, *base, "--resume", "1")
        assert done.exit_code == 1 and "run #1 already finished (4 kept)" in done.stderr
        assert _cli(db, *base, "--resume", "99").exit_code == 1
        with Store(db) as store:  # a run cut short before its first checkpoint (e.g. the app stopped)
            job_id = jobs_table.create(store, "selfinstruct", jobs_table.get(store, 1)["params"])
            jobs_table.finish(store, job_id, "failed", error="interrupted: the app stopped while it ran")
        resumed = _cli(db, *base, "--resume", "2", "--concurrency", "2")
        assert resumed.exit_code == 0, resumed.output
        assert "kept 4 instructions" in resumed.stdout and "source selfinstruct-job-2" in resumed.stdout


def test_rate_show_reject_below_and_evolve(db: Path, tmp_path: Path) -> None:
    rows = [
        {"instruction": f"Explain idea {i} simply.", "input": "", "output": f"Idea {i} means {i}."} for i in range(8)
    ]
    data = tmp_path / "rows.json"
    data.write_text(json.dumps(rows))
    assert _cli(db, "import", str(data), "--format", "alpaca").exit_code == 0
    out = _cli(db, "rate", "run", "--backend", "fake", "--concurrency", "3")
    assert out.exit_code == 0, out.output
    assert "rated 8 rows under 'accuracy'; 0 answers had no usable score" in out.stdout
    shown = _cli(db, "rate", "show")
    assert shown.exit_code == 0 and "mean " in shown.stdout and "fake judge" in shown.stdout
    bad = tmp_path / "rubric.txt"
    bad.write_text("Rate {instruction}")
    refused = _cli(db, "rate", "run", "--rubric", "strict", "--prompt-file", str(bad))
    assert refused.exit_code == 1 and "must contain {output}" in refused.stderr
    with Store(db) as store:
        from curation.store import ratings as ratings_table

        below = int((ratings_table.ratings(store, "accuracy")["score"] < 3).sum())
    rejected = _cli(db, "rate", "reject-below", "3")
    assert below > 0 and rejected.exit_code == 0 and f"rejected {below} rows" in rejected.stdout
    assert len(_rows(db, ExampleFilter(statuses=["rejected"]))) == below
    evolved = _cli(db, "evolve", "--mode", "deeper", "--id", "1", "--id", "2", "--backend", "fake")
    assert evolved.exit_code == 0, evolved.output
    assert "added 2 pending rows (source evol-job-" in evolved.stdout
    assert _cli(db, "evolve").exit_code == 2
