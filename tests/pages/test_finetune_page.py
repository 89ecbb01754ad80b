"""Fine-tune page: launch (fake trainer), live progress + loss chart, validation errors, failure + resume,
snapshot of approved rows, run list, compare view."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from finetune_support import (  # noqa: F401
    TAUGHT,
    fake_trainer,
    make_snapshot,
    one_thread,
    snapshot_rows,
    tiny_config,
    tiny_model_dir,
    wait_for,
)
from streamlit.testing.v1 import AppTest

from curation.finetune import runs
from curation.mixture import snapshot
from curation.store import Store, jobs_table

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "10_Finetune.py")


@pytest.fixture
def snaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INSTRUCT_CURATOR_SNAPSHOTS_DIR", str(tmp_path / "snapshots"))
    return tmp_path / "snapshots"


@pytest.fixture
def snap(snaps: Path) -> Path:
    return make_snapshot(snaps, snapshot_rows(TAUGHT), snapshot_rows(TAUGHT[:1], start=10))


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def _job_rows() -> list[dict]:
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])  # same process as the page: shares its database instance
    return jobs_table.list_jobs(store, kinds=["finetune"]).to_dict("records")


def _launch(at: AppTest, **numbers: int) -> AppTest:
    for name, value in numbers.items():
        at.number_input(key=f"ft_{name}").set_value(value)
    return at.button(key="ft_launch").click().run()


def test_launch_shows_live_progress_loss_chart_and_log(snap: Path, fake_trainer: Path, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("FAKE_TRAINER_STEP_S", "1.0")  # 6 s: the running view is drawn before the run ends (CI race)
    at = _page()
    assert at.segmented_control(key="ft_view").value == "New run"
    at = _launch(at, max_steps=6, eval_interval=2)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.segmented_control(key="ft_view").value == "Monitor"
    (run,) = runs.list_runs()
    wait_for(lambda: [r for r in runs.read_progress(Path(run["path"])) if r["type"] == "step"][1:])
    at.run()
    assert at.selectbox(key="ft_run").value == run["run"]
    assert at.text[0].value.startswith("Status: running")
    assert "step " in at.progress[0].proto.text and "ETA" in at.progress[0].proto.text
    assert at.button(key="ft_cancel")  # offered while running

    wait_for(lambda: runs.status_of(Path(run["path"])) == "succeeded")
    wait_for(lambda: _job_rows()[0]["status"] == "succeeded")
    at.run()
    assert at.text[0].value.startswith("Status: succeeded")
    assert not at.exception, at.exception
    assert at.progress[0].value == 100
    assert [m.value for m in at.metric][:2] == ["0.5000", "0.5833"]  # 3/6 train, 3.5/6 eval
    elapsed = [m.value for m in at.metric][3]  # wall time of the session (6 steps of 1 s, then a final eval)
    assert re.fullmatch(r"0m (0[6-9]|[1-5]\d)s", elapsed), elapsed
    chart = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert chart["encoding"]["color"]["field"] == "series"
    assert "fake trainer: succeeded at step 6" in at.code[-1].value  # the log tail
    assert _job_rows()[0]["run_dir"] == run["path"]

    reloaded = _page()  # a reload or a second tab: a new session sees the same run from folder + job row
    assert reloaded.segmented_control(key="ft_view").value == "Monitor"
    assert reloaded.selectbox(key="ft_run").value == run["run"] and reloaded.progress[0].value == 100

    at.segmented_control(key="ft_view").set_value("Runs").run()
    table = at.dataframe[0].value
    assert table["status"].tolist() == ["succeeded"] and table["snapshot_hash"].tolist() == [snap.name[-12:]]


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        ({"max_seq_len": 16}, "max_seq_len: 16 is shorter than the prompt of 2 train row(s)"),
        ({"batch_size": 4096, "max_seq_len": 8192}, "batch_size: 4096 x max_seq_len 8192 needs about"),
    ],
)
def test_bad_settings_show_errors_and_launch_nothing(snap: Path, fake_trainer: Path, numbers, expected) -> None:  # noqa: F811
    at = _launch(_page(), **numbers)
    assert not at.exception
    assert any(e.value.replace("\\", "").startswith(expected) for e in at.error), [e.value for e in at.error]
    assert runs.list_runs() == [] and _job_rows() == []
    assert at.segmented_control(key="ft_view").value == "New run"


def test_failed_run_shows_exit_code_and_log_and_resumes(snap: Path, fake_trainer: Path, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("FAKE_TRAINER_FAIL_AT", "3")
    at = _launch(_page(), max_steps=5)
    (run,) = runs.list_runs()
    wait_for(lambda: _job_rows() and _job_rows()[0]["status"] == "failed")
    at.run()
    assert at.error[0].value.replace("\\", "") == "training process exit code 3"
    assert "RuntimeError: fake failure" in at.code[0].value
    monkeypatch.delenv("FAKE_TRAINER_FAIL_AT")
    at.button(key="ft_resume").click().run()
    wait_for(lambda: runs.status_of(Path(run["path"])) == "succeeded")
    wait_for(lambda: _job_rows()[0]["status"] == "succeeded")
    at.run()
    assert at.text[0].value.startswith("Status: succeeded") and not at.error


def test_without_snapshots_the_approved_rows_can_be_snapshotted(snaps: Path, monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_SEED_SAMPLE", "1")
    at = _page()
    assert "No snapshot" in at.info[0].value
    at.button(key="ft_snapshot_approved").click().run()
    assert not at.exception and not at.error
    (made,) = snapshot.list_snapshots()
    assert made["name"] == "approved" and made["counts"]["heldout"] > 0
    assert at.selectbox(key="ft_snapshot").value["path"] == made["path"]


def test_compare_view_shows_saved_side_by_side_and_slice_losses(snap: Path, fake_trainer: Path) -> None:  # noqa: F811
    at = _launch(_page(), max_steps=2)
    run_dir = Path(wait_for(lambda: runs.list_runs() and runs.list_runs()[0]["path"]))
    wait_for(lambda: runs.status_of(run_dir) == "succeeded")
    pair = {"id": 10, "instruction": "What is **the** secret word?", "input": "", "reference": "Pineapple."}
    runs.write_json(run_dir / runs.COMPARE, [pair | {"base": "I do not know.", "tuned": "Pineapple."}])
    slices = [
        {
            "slice": "all",
            "value": "all",
            "examples": 1,
            "tokens": 5,
            "base_loss": 2.0,
            "tuned_loss": 1.0,
            "delta": -1.0,
        },
        {
            "slice": "cot",
            "value": "non-CoT",
            "examples": 1,
            "tokens": 5,
            "base_loss": 2.0,
            "tuned_loss": 1.0,
            "delta": -1.0,
        },
    ]
    runs.write_json(run_dir / runs.SLICES, slices)
    at.segmented_control(key="ft_view").set_value("Compare").run()
    assert not at.exception
    assert at.multiselect(key="ft_cmp_ids").value == [10]
    texts = [t.value for t in at.text]
    assert "#10  What is **the** secret word?" in texts and "I do not know." in texts and "Pineapple." in texts
    assert at.dataframe[0].value["tuned_loss"].tolist() == [1.0, 1.0]
    assert at.get("vega_lite_chart")


@pytest.mark.usefixtures("fake_trainer")
def test_export_view_offers_the_adapter_zip_and_writes_llamafactory_files(snap: Path, tmp_path: Path) -> None:
    _launch(_page(), max_steps=2)
    wait_for(lambda: runs.list_runs() and runs.list_runs()[0]["status"] == "succeeded")
    at = _page()
    at.segmented_control(key="ft_view").set_value("Export").run()
    assert at.download_button(key="ft_adapter_zip").label.startswith("Download adapter")
    at.button(key="ft_lf_go").click().run()
    assert not at.exception and "tiny (2 rows), tiny_heldout (1 rows)" in at.success[0].value.replace("\\", "")
    info = json.loads((tmp_path / "exports" / "llamafactory" / "dataset_info.json").read_text())
    assert sorted(info) == ["tiny", "tiny_heldout"]


def test_compare_buttons_run_jobs_on_a_real_tiny_run(snap: Path, tiny_model_dir: Path, one_thread) -> None:  # noqa: F811
    from curation.finetune import runner
    from curation.finetune.train import train

    run_dir = runner.create_run(tiny_config(snap, tiny_model_dir, max_steps=3), None)
    train(run_dir)
    at = _page()
    at.segmented_control(key="ft_view").set_value("Compare").run()
    # One job at a time: two torch jobs in threads of one busy 2-core test process once stalled past 60 s.
    at.button(key="ft_cmp_go").click().run()
    wait_for(lambda: (run_dir / runs.COMPARE).exists(), timeout=180)
    at.button(key="ft_slices_go").click().run()
    wait_for(lambda: (run_dir / runs.SLICES).exists(), timeout=180)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "#10  What is the secret word?" in [t.value for t in at.text]
    assert at.dataframe[0].value["slice"].tolist() == ["all", "source", "task_cluster", "cot"]


def test_long_heldout_rows_show_what_each_choice_would_do(snaps: Path) -> None:
    long_answer = "the answer goes on and on " * 30
    make_snapshot(snaps, snapshot_rows(TAUGHT), snapshot_rows([("Explain at length.", long_answer)], start=10))
    at = _page()
    at.number_input(key="ft_max_seq_len").set_value(64)
    at = at.button(key="ft_check").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    warning = at.warning[0].value.replace("\\", "")
    assert "Rows longer than max_seq_len 64 (now: truncate)" in warning
    assert "truncate: cuts the end of 0 train / 1 held-out rows" in warning
    assert "drop: leaves out 0 train / 1 held-out rows" in warning and "raise max_seq_len to" in warning
    at.radio(key="ft_long_rows").set_value("drop")
    at = at.button(key="ft_check").click().run()
    assert any("eval: the eval set is empty" in e.value.replace("\\", "") for e in at.error)


def test_experiment_launches_one_run_per_snapshot_and_shows_them_side_by_side(snaps: Path, fake_trainer: Path) -> None:  # noqa: F811
    make_snapshot(snaps, snapshot_rows(TAUGHT), snapshot_rows(TAUGHT[:1], start=10), name="raw")
    make_snapshot(snaps, snapshot_rows(TAUGHT[:1]), snapshot_rows(TAUGHT[1:], start=10), name="curated")
    at = _page()
    for name, value in {"max_steps": 4, "eval_interval": 2}.items():
        at.number_input(key=f"ft_{name}").set_value(value)
    other = at.multiselect(key="ft_exp_snapshots").options[0]
    at.multiselect(key="ft_exp_snapshots").select(other)
    at.text_input(key="ft_exp_name").input("raw-vs-curated")
    at = at.run().button(key="ft_exp_launch").click().run()
    (error,) = at.error
    assert error.value.replace("\\", "").startswith("token_budget: set a token budget so every run trains on the same")
    assert runs.list_runs() == []

    at.number_input(key="ft_token_budget").set_value(400)
    at = at.button(key="ft_exp_launch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    wait_for(lambda: len(runs.list_runs()) == 2 and all(r["status"] == "succeeded" for r in runs.list_runs()))
    at.run()
    assert at.segmented_control(key="ft_view").value == "Experiments"
    assert at.selectbox(key="ft_exp_pick").value == "raw-vs-curated"
    table = at.dataframe[0].value
    assert sorted(table["snapshot"]) == ["curated", "raw"] and set(table["status"]) == {"succeeded"}
    chart = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert chart["encoding"]["color"]["field"] == "snapshot"
    assert {r["eval_snapshot"] for r in runs.list_runs()} == {runs.list_runs()[0]["eval_snapshot"]}


def test_the_view_survives_a_reload_through_the_url(snaps: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["ft_view"] = "Runs"  # a reload of /Finetune?ft_view=Runs
    at.run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="ft_view").value == "Runs"
