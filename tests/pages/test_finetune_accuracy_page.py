"""Fine-tune page, Experiments view: the accuracy job scores base and every run on the same held-out items and the
table shows accuracy [CI] per run and slice with the paired comparison (fake trainer; tiny model stands in)."""

from __future__ import annotations

import os
from pathlib import Path

from finetune_support import (  # noqa: F401
    TAUGHT,
    fake_trainer,
    make_snapshot,
    one_thread,
    snapshot_rows,
    tiny_model_dir,
    wait_for,
)
from streamlit.testing.v1 import AppTest

from curation.evaluate import engine
from curation.finetune import runs
from curation.store import Store, evaluations, jobs_table

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "10_Finetune.py")
HELDOUT = [
    ("Which is a fruit?\nOptions:\n- apple\n- brick", "Apples grow on trees. So the answer is apple."),
    ("Where do you sleep?\nOptions:\n- kitchen\n- bedroom\n- lake", "So the answer is bedroom."),
    ("What is 6 * 7?", "#### 42"),
]


def _accuracy_job() -> dict | None:
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])  # same process as the page: shares its database instance
    listed = jobs_table.list_jobs(store, kinds=["experiment-accuracy"]).to_dict("records")
    return listed[0] if listed and listed[0]["status"] in ("succeeded", "failed") else None


def test_experiment_accuracy_table_for_base_and_each_run(
    tmp_path, monkeypatch, fake_trainer, tiny_model_dir, one_thread  # noqa: F811
) -> None:  # fmt: skip
    snaps = tmp_path / "snapshots"
    monkeypatch.setenv("INSTRUCT_CURATOR_SNAPSHOTS_DIR", str(snaps))
    heldout = snapshot_rows(HELDOUT, start=10)
    make_snapshot(snaps, snapshot_rows(TAUGHT), heldout, name="raw")
    make_snapshot(snaps, snapshot_rows(TAUGHT[:1]), heldout, name="curated")
    real = engine.load_model
    loaded_specs: list[str] = []

    def tiny_for_every_model(spec: str, device: str | None = None) -> engine.LoadedModel:
        loaded_specs.append(spec)  # the fake trainer's adapter is not loadable: the tiny model stands in for each
        return real(str(tiny_model_dir))

    monkeypatch.setattr(engine, "load_model", tiny_for_every_model)
    at = AppTest.from_file(PAGE, default_timeout=240).run()  # 240 s: a loaded 2-core CI machine
    for name, value in {"max_steps": 2, "eval_interval": 1, "token_budget": 200}.items():
        at.number_input(key=f"ft_{name}").set_value(value)
    at.multiselect(key="ft_exp_snapshots").select(at.multiselect(key="ft_exp_snapshots").options[0])
    at.text_input(key="ft_exp_name").input("acc")
    at = at.run().button(key="ft_exp_launch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    wait_for(lambda: len(runs.list_runs()) == 2 and all(r["status"] == "succeeded" for r in runs.list_runs()))
    at.run()
    at.number_input(key="ft_exp_acc_items").set_value(3)
    at = at.button(key="ft_exp_accuracy").click().run()
    job = wait_for(_accuracy_job, timeout=120)
    assert job["status"] == "succeeded", job["error"]
    at.run()
    assert not at.exception, at.exception
    run_names = [r["run"] for r in runs.list_runs()]
    assert len(loaded_specs) == 3 and sorted(Path(s).name for s in loaded_specs[1:]) == sorted(run_names)
    (table,) = [d.value for d in at.dataframe if "accuracy_ci" in d.value.columns]
    overall = table[table["slice"] == "all"]
    assert overall["model"].tolist()[0] == "base" and sorted(overall["model"].tolist()[1:]) == sorted(run_names)
    assert set(overall["n"]) == {3}
    # the same weights score the same: every difference is exactly 0, so no significant difference anywhere
    assert (overall["vs_base"].iloc[1:].str.endswith("+0.000 [+0.000, +0.000] no significant difference")).all()
    with Store(os.environ["INSTRUCT_CURATOR_DB"]) as store:
        saved = evaluations.latest(store, experiment="acc")
    assert {s["model"] for s in saved} == {"base", *run_names}
    assert len({s["accuracy"] for s in saved}) == 1
    assert table.iloc[0]["accuracy_ci"].startswith(f"{saved[0]['accuracy']:.3f} [")


pytest_plugins: list[str] = []
