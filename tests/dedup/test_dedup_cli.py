"""`python -m curation dedup ...`: pairs files equal brute-force rouge-score, --apply, undo, contamination."""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from rouge_score import rouge_scorer
from typer.testing import CliRunner

from curation.cli import app
from curation.dedup import encoder
from curation.store import Store

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
RUNNER = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def alpaca_file(tmp_path: Path, n: int = 80, seed: int = 4) -> tuple[Path, list[dict]]:
    rng = random.Random(seed)
    words = ["write", "a", "short", "poem", "about", "the", "sea", "list", "three", "tips", "for", "sleep", "why"]
    rows = []
    for _ in range(n):
        if rows and rng.random() < 0.35:
            base = rng.choice(rows)["instruction"].split()
            base[rng.randrange(len(base))] = rng.choice(words)
            instruction = " ".join(base)
        else:
            instruction = " ".join(rng.choices(words, k=rng.randint(2, 12))).capitalize() + "."
        rows.append({"instruction": instruction, "input": rng.choice(["", "the sea", "sleep"]), "output": "ok"})
    path = tmp_path / "data.json"
    path.write_text(json.dumps(rows))
    return path, rows


def invoke(db: Path, *args: str):
    return RUNNER.invoke(app, ["--db", str(db), *[str(a) for a in args]])


def imported(tmp_path: Path) -> tuple[Path, list[dict]]:
    db = tmp_path / "cli.duckdb"
    path, rows = alpaca_file(tmp_path)
    result = invoke(db, "import", path, "--format", "alpaca")
    assert result.exit_code == 0, result.output
    return db, rows


def snapshot(db: Path) -> tuple[list, int]:
    store = Store(db)
    try:
        rows = store.query_rows("SELECT id, status, status_reason, version FROM examples ORDER BY id")
        return rows, int(store.query_value("SELECT count(*) FROM actions WHERE kind <> 'import'"))
    finally:
        store.close()


def read_pairs(path: Path, kind: str = "pair") -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == kind]


@pytest.mark.parametrize(("rule", "scope"), [("ge", "instruction"), ("gt", "instruction_input")])
def test_pairs_file_equals_brute_force_rouge_score(tmp_path: Path, rule: str, scope: str) -> None:
    db, rows = imported(tmp_path)
    before = snapshot(db)
    out = tmp_path / "pairs.jsonl"
    result = invoke(db, "dedup", "rouge", "--threshold", "0.7", "--rule", rule, "--scope", scope, "--pairs-out", out)
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.output
    texts = [
        r["instruction"] + ("\n" + r["input"] if scope == "instruction_input" and r["input"] else "") for r in rows
    ]
    expected = set()
    for i, j in itertools.combinations(range(len(rows)), 2):
        score = SCORER.score(texts[i], texts[j])["rougeL"].fmeasure
        if score >= 0.7 if rule == "ge" else score > 0.7:
            expected.add((i, j, score))
    found = {(p["a_row"], p["b_row"], p["score"]) for p in read_pairs(out)}
    assert found == expected and len(expected) > 5
    assert all(p["a_row"] < p["b_row"] and p["b_id"] == p["b_row"] + 1 for p in read_pairs(out))
    assert snapshot(db) == before  # without --apply the rows are untouched


def test_greedy_pairs_file_lists_dropped_rows_with_their_blocker(tmp_path: Path) -> None:
    db, rows = imported(tmp_path)
    out = tmp_path / "greedy.jsonl"
    result = invoke(db, "dedup", "rouge", "--mode", "greedy", "--rule", "gt", "--pairs-out", out)
    assert result.exit_code == 0, result.output
    kept: list[int] = []
    expected = {}
    for i, row in enumerate(rows):  # same creation time for all: walk in id (= file) order
        scores = [(SCORER.score(rows[k]["instruction"], row["instruction"])["rougeL"].fmeasure, k) for k in kept]
        hits = [(s, -k) for s, k in scores if s > 0.7]
        if hits:
            best = max(hits)
            expected[i] = (-best[1], best[0])
        else:
            kept.append(i)
    found = {d["dropped_row"]: (d["kept_row"], d["score"]) for d in read_pairs(out, "dropped")}
    assert found == expected and len(found) > 3


def test_apply_then_undo(tmp_path: Path) -> None:
    db, _ = imported(tmp_path)
    before = snapshot(db)
    result = invoke(db, "dedup", "rouge", "--threshold", "0.8", "--apply")
    assert result.exit_code == 0, result.output
    action_id = int(result.output.split("as action ")[1].split()[0])
    rows, actions = snapshot(db)
    marked = [r for r in rows if r[1] == "duplicate"]
    assert marked and actions == before[1] + 1
    assert all(r[2].startswith("dedup run 1: duplicate of #") and "ROUGE-L >= 0.8" in r[2] for r in marked)
    result = invoke(db, "dedup", "undo", action_id)
    assert result.exit_code == 0, result.output
    assert [r[:3] for r in snapshot(db)[0]] == [r[:3] for r in before[0]]
    assert invoke(db, "dedup", "undo", action_id).exit_code == 1  # already undone: one-line error
    listed = invoke(db, "dedup", "runs")
    assert listed.exit_code == 0 and "rouge" in listed.output


def test_bad_arguments_name_the_option(tmp_path: Path) -> None:
    db, _ = imported(tmp_path)
    result = invoke(db, "dedup", "rouge", "--rule", "lt")
    assert result.exit_code == 2 and "--rule" in result.output
    result = invoke(db, "dedup", "rouge", "--threshold", "1.5")
    assert result.exit_code == 2 and "--threshold" in result.output
    result = invoke(db, "dedup", "apply", "99")
    assert result.exit_code == 1 and "does not exist" in result.output


def test_contamination_lists_and_tags_matches(tmp_path: Path) -> None:
    db, rows = imported(tmp_path)
    eval_path = tmp_path / "eval.jsonl"
    eval_path.write_text(json.dumps({"instruction": rows[3]["instruction"].upper(), "output": "x"}) + "\n")
    before = snapshot(db)
    result = invoke(db, "dedup", "contamination", eval_path, "--format", "jsonl", "--threshold", "1.0")
    assert result.exit_code == 0, result.output
    assert snapshot(db) == before
    same = sum(1 for r in rows if r["instruction"].lower() == rows[3]["instruction"].lower())
    assert f"{same} of 80 curated rows match 1 evaluation rows" in result.output
    result = invoke(db, "dedup", "contamination", eval_path, "--format", "jsonl", "--threshold", "1.0", "--tag")
    assert result.exit_code == 0 and f"tagged {same} rows 'contaminated'" in result.output


@pytest.mark.parametrize(
    ("options", "duplicate"),
    [([], 1), (["--keep-origins", "generated,seed"], 2), (["--no-prefer-longer-output"], 1)],
)
def test_keep_rule_options(make_store, tmp_path: Path, options: list[str], duplicate: int) -> None:
    rows = [
        {"instruction": "Write a poem about the sea.", "output": "a long long output", "origin": "generated"},
        {"instruction": "Write a poem about the sea!", "output": "short", "origin": "seed"},
        {"instruction": "Explain gravity.", "output": "a", "origin": "imported"},
        {"instruction": "Explain gravity!", "output": "abc", "origin": "imported"},
    ]
    db = tmp_path / "keep.duckdb"
    make_store(rows, path=db).close()
    result = invoke(db, "dedup", "rouge", *options, "--apply")
    assert result.exit_code == 0, result.output
    marked = {r[0] for r in snapshot(db)[0] if r[1] == "duplicate"}
    gravity = 4 if "--no-prefer-longer-output" in options else 3  # equal origins: longer output, else oldest id
    assert marked == {duplicate, gravity}
    assert invoke(db, "dedup", "rouge", "--keep-origins", "seed,robot").exit_code == 2


def test_embed_runs_on_the_chosen_backend_and_search_and_records_them(tmp_path: Path) -> None:
    db, _ = imported(tmp_path)
    result = invoke(db, "dedup", "embed", "--backend", "torch", "--search", "exact", "--threshold", "0.95")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "embedding backend: torch"
    store = Store(db)
    try:
        params = json.loads(store.query_value("SELECT params FROM dedup_runs ORDER BY id DESC LIMIT 1"))
    finally:
        store.close()
    assert (params["embedding_backend"], params["embedding_search"], params["embedding_runtime"]) == (
        "torch",
        "exact",
        "torch",
    )


@pytest.mark.skipif(encoder.cuda_available(), reason="a GPU is present")
def test_embed_backend_that_cannot_run_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    db, _ = imported(tmp_path)
    before = snapshot(db)
    result = invoke(db, "dedup", "embed", "--backend", "cuda-fp16")
    assert result.exit_code == 2 and not isinstance(result.exception, RuntimeError)
    assert "needs a CUDA GPU" in result.output and "Traceback" not in result.output
    assert snapshot(db) == before


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_progress_to_a_pipe_is_a_plain_line_every_few_seconds_not_bar_redraws(monkeypatch: pytest.MonkeyPatch) -> None:
    from curation.cli import common

    monkeypatch.delenv("CURATION_NO_PROGRESS", raising=False)
    now = [0.0]
    stream = _Pipe()
    hook, close = common.progress_bar("dedup rouge", stream=stream, clock=lambda: now[0])
    for step in range(1000):  # 1,000 updates over 20 s of (fake) time
        now[0] = step * 0.02
        hook(step / 1000, f"length bands {step}/1000")
    close()
    lines = stream.getvalue().split("\n")
    assert "\r" not in stream.getvalue() and lines[-1] == ""
    assert len(lines[:-1]) == 20 / common.LINE_SECONDS + 1  # one at the start, one per interval, one at the end
    assert lines[0].startswith("dedup rouge:   0% length bands 0/1000")
    assert lines[-2].startswith("dedup rouge: 100% length bands 999/1000")


def test_a_cli_run_writing_into_a_pipe_prints_lines_without_carriage_returns(tmp_path: Path) -> None:
    path, _ = alpaca_file(tmp_path)
    db = tmp_path / "pipe.duckdb"
    assert invoke(db, "import", path, "--format", "alpaca").exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != "CURATION_NO_PROGRESS"}
    command = [sys.executable, "-m", "curation", "--db", str(db), "dedup", "rouge", "--threshold", "0.5"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    progress = [line for line in done.stderr.splitlines() if line.startswith("dedup rouge:")]
    assert "\r" not in done.stderr and progress and progress[-1].startswith("dedup rouge: 100%"), done.stderr
