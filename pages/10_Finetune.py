"""Fine-tune: LoRA on a snapshot in a background process; live progress, cancel/resume, run list, compare, exports.

Everything shown comes from the run folders and job rows, so a reload, a second tab or an app restart sees
the same state.
"""

from __future__ import annotations

import time
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from curation import config
from curation.evaluate import experiment as evaluation
from curation.finetune import compare, export, runner, runs
from curation.finetune.config import (
    ALL_LINEAR,
    FIELD_HELP,
    LONG_ROWS,
    MIXED_PRECISION,
    PROMPT_FORMATS,
    TrainConfig,
    gib,
)
from curation.finetune.plan import make_plan
from curation.mixture import export as mixture_export
from curation.mixture import snapshot
from curation.mixture.plan import MixConfig
from curation.models import DEFAULT_MODEL, first_use_note
from curation.store import jobs_table
from ui.state import get_runner, get_store
from ui.text import inert

VIEWS = ("New run", "Monitor", "Runs", "Compare", "Experiments", "Export")
MODULES = [ALL_LINEAR, "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
COMPARE_KIND, SLICES_KIND, MERGE_KIND = "finetune-compare", "finetune-slices", "finetune-merge"
EXP_SLICES_KIND, EXP_ANSWERS_KIND = "experiment-slices", "experiment-answers"
EXP_ACCURACY_KIND = "experiment-accuracy"
DEFAULTS = TrainConfig()

store, jobs = get_store(), get_runner()


def snapshot_label(found: dict) -> str:
    counts = found.get("counts", {})
    sizes = f"{counts.get('train', 0)} train / {counts.get('heldout', 0)} held-out"
    return f"{found['name']} · {sizes} · {found['content_hash'][:12]}"


def make_approved_snapshot() -> None:
    """Snapshot every approved row (10% held out) through the mixture exporter, as a recorded job."""
    bar = st.progress(0.0, text="Snapshotting approved rows…")
    mix = MixConfig(name="approved", heldout_fraction=0.1)
    try:
        jobs.run("mixture-export", mixture_export.export_job(mix), mix.to_dict(), lambda f, m: bar.progress(f, m))
    except ValueError as err:
        st.error(inert(err))
        return
    st.rerun()


def number(label: str, name: str, **kwargs) -> float:
    return st.number_input(label, value=getattr(DEFAULTS, name), key=f"ft_{name}", help=FIELD_HELP[name], **kwargs)


def settings_form(snapshot_path: str) -> TrainConfig:
    """Widgets for every TrainConfig field; returns the config they describe."""
    left, right = st.columns(2)
    with left:
        st.subheader("Model and prompt")
        source = st.radio("Base model", ["Packaged SmolLM2-135M-Instruct", "Local folder"], key="ft_model_source")
        folder = st.text_input("Model folder", key="ft_model_dir", disabled=source != "Local folder")
        fmt = st.radio("Prompt format", PROMPT_FORMATS, key="ft_prompt_format", help=FIELD_HELP["prompt_format"])
        response_only = st.checkbox("Loss on response tokens only", True, key="ft_response_only_loss")
        packing = st.checkbox("Pack short examples together", False, key="ft_packing", help=FIELD_HELP["packing"])
        checkpointing = st.checkbox("Gradient checkpointing", False, key="ft_gradient_checkpointing")
        mixed = st.selectbox("Precision", MIXED_PRECISION, key="ft_mixed_precision", help=FIELD_HELP["mixed_precision"])
        four_bit = st.checkbox("4-bit QLoRA (CUDA + bitsandbytes)", False, key="ft_load_in_4bit")
        st.subheader("LoRA")
        r = number("Rank r", "lora_r", min_value=1, step=1)
        alpha = number("Alpha", "lora_alpha", min_value=1, step=1)
        dropout = number("Dropout", "lora_dropout", min_value=0.0, max_value=0.99, step=0.05)
        modules = st.multiselect(
            "Target modules",
            MODULES,
            DEFAULTS.target_modules,
            key="ft_target_modules",
            accept_new_options=True,
            help=FIELD_HELP["target_modules"],
        )
    with right:
        st.subheader("Training")
        lr = number("Learning rate", "learning_rate", min_value=1e-7, format="%.1e", step=1e-5)
        epochs = number("Epochs", "epochs", min_value=1, step=1)
        max_steps = number("Max steps (0 = use epochs)", "max_steps", min_value=0, step=1)
        batch = number("Batch size", "batch_size", min_value=1, step=1)
        accum = number("Gradient accumulation", "grad_accum", min_value=1, step=1)
        max_len = number("Max sequence length", "max_seq_len", min_value=1, step=32)
        long_rows = st.radio(
            "Rows longer than that", LONG_ROWS, key="ft_long_rows", horizontal=True, help=FIELD_HELP["long_rows"]
        )
        budget = number("Token budget (0 = use steps / epochs)", "token_budget", min_value=0, step=1000)
        warmup = number("Warm-up steps", "warmup_steps", min_value=0, step=1)
        seed = number("Seed", "seed", step=1)
        eval_every = number("Eval every (steps)", "eval_interval", min_value=0, step=10)
        save_every = number("Checkpoint every (steps)", "save_interval", min_value=0, step=10)
    return TrainConfig(
        snapshot=snapshot_path,
        base_model=folder.strip() if source == "Local folder" else DEFAULT_MODEL,
        prompt_format=fmt,
        response_only_loss=response_only,
        packing=packing,
        max_seq_len=int(max_len),
        long_rows=long_rows,
        token_budget=int(budget),
        mixed_precision=mixed,
        load_in_4bit=four_bit,
        lora_r=int(r),
        lora_alpha=int(alpha),
        lora_dropout=float(dropout),
        target_modules=list(modules),
        learning_rate=float(lr),
        epochs=int(epochs),
        max_steps=int(max_steps),
        batch_size=int(batch),
        grad_accum=int(accum),
        warmup_steps=int(warmup),
        gradient_checkpointing=checkpointing,
        seed=int(seed),
        eval_interval=int(eval_every),
        save_interval=int(save_every),
    )


def show_plan(cfg: TrainConfig) -> bool:
    """Validate; show every problem (field + fix) or what the run will do. True when it may launch."""
    with st.spinner(f"Checking settings against the snapshot and the model…{first_use_note(cfg.base_model)}"):
        plan = make_plan(cfg)
    if plan.long_row_choices:
        choices = "\n".join(f"- {choice}" for choice in plan.long_row_choices)
        st.warning(inert(f"Rows longer than max_seq_len {cfg.max_seq_len} (now: {cfg.long_rows}):\n{choices}"))
    for error in plan.errors:
        st.error(inert(error))
    if not plan.errors:
        st.success(
            f"{plan.train_examples:,} train / {plan.heldout_examples:,} held-out examples "
            f"({plan.eval_examples:,} for eval loss), {plan.train_tokens:,} tokens ({plan.truncated} cut, "
            f"{plan.dropped} dropped), {plan.steps:,} steps; about {gib(plan.memory_bytes)} of "
            f"{gib(plan.available_bytes)} memory"
        )
    return not plan.errors


def new_run_view() -> None:
    found = snapshot.list_snapshots()
    if not found:
        st.info(f"No snapshot in {config.get_path('snapshots_dir')} yet. Make one on the Mixture page, or here:")
        if st.button("Snapshot the approved rows (10% held out)", key="ft_snapshot_approved", type="primary"):
            make_approved_snapshot()
        return
    chosen = st.selectbox("Snapshot", found, format_func=snapshot_label, key="ft_snapshot")
    cfg = settings_form(chosen["path"])
    check, launch = st.columns([1, 4])
    if check.button("Check settings", key="ft_check"):
        show_plan(cfg)
    if launch.button("Launch training", key="ft_launch", type="primary") and show_plan(cfg):
        _, run_dir = runner.launch(jobs, cfg)
        st.session_state["ft_goto"] = run_dir.name  # applied before the widgets exist, on the rerun
        st.rerun()
    experiment_form(cfg, chosen, found)


def experiment_form(cfg: TrainConfig, chosen: dict, found: list[dict]) -> None:
    """Launch the same settings over more snapshots, on one token budget and one shared eval set."""
    with st.expander("Launch as an experiment (same settings over several snapshots)"):
        others = [f for f in found if f["path"] != chosen["path"]]
        more = st.multiselect("Also train on", others, format_func=snapshot_label, key="ft_exp_snapshots")
        name = st.text_input("Experiment name", key="ft_exp_name")
        shared = st.selectbox("Shared eval set: held-out split of", [chosen, *more], format_func=snapshot_label)
        st.caption("Every run gets the token budget above (required) and is evaluated on the same held-out rows.")
        if st.button("Launch experiment", key="ft_exp_launch", disabled=not more):
            cfg = TrainConfig(**{**cfg.to_dict(), "eval_snapshot": shared["path"]})
            if not cfg.token_budget:
                st.error("token_budget: set a token budget so every run trains on the same number of tokens")
                return
            paths = [chosen["path"], *(m["path"] for m in more)]
            checked = [show_plan(TrainConfig(**{**cfg.to_dict(), "snapshot": p})) for p in paths]
            if all(checked):
                try:
                    runner.launch_experiment(jobs, cfg, paths, name)
                except ValueError as err:
                    st.error(inert(err))
                    return
                st.session_state["ft_goto_view"] = "Experiments"
                st.rerun()


def loss_chart(records: list[dict]) -> alt.Chart:
    frame = runs.loss_frame(records)
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="step"),
            y=alt.Y("loss:Q", title="loss", scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", title=None),
            tooltip=["series:N", "step:Q", alt.Tooltip("loss:Q", format=".4f")],
        )
    )


def run_controls(run_dir: Path, status: str, job: dict | None, info: dict) -> None:
    if status == "running" and st.button("Cancel (saves the adapter so far)", key="ft_cancel"):
        live = job and job["status"] in ("queued", "running")
        runner.cancel(jobs, run_dir, int(job["id"]) if live else None)
        st.toast("Cancel requested: the trainer stops after its current step.")
    resumable = status in ("cancelled", "failed", "interrupted") and info["has_checkpoint"]
    if resumable and st.button("Resume from the last checkpoint", key="ft_resume", type="primary"):
        runner.resume(jobs, run_dir)
        st.rerun()


@st.fragment(run_every=2)
def monitor(run_dir: Path) -> None:
    """Polls the run folder and its job row: progress, ETA, losses, tokens/s, log tail, cancel/resume."""
    info, job = runs.summary(run_dir), runner.job_for_run(store, run_dir)
    records = runs.read_progress(run_dir)
    steps = [r for r in records if r.get("type") == "step"]
    status = info["status"]
    state = runner.run_state(records, now=time.time() if status == "running" else None)
    fraction, message = state["fraction"], state["message"]
    st.text(f"Status: {status}  ·  snapshot {info['snapshot']} ({info['snapshot_hash']})  ·  {info['settings']}")
    if status != "running":
        message = f"{status}: step {info['step']}/{info['total_steps'] or '?'}" if steps else status
    st.progress(min(1.0, fraction), text=message)
    if job is not None and job["status"] == "failed" and status != "running":
        first, _, rest = str(job["error"]).removeprefix("TrainingFailed: ").partition("\n")
        st.error(inert(first))
        st.code(rest, language=None, wrap_lines=True)
    cols = st.columns(4)
    cols[0].metric("Train loss", f"{steps[-1]['loss']:.4f}" if steps else "–")
    cols[1].metric("Eval loss", f"{info['final_eval_loss']:.4f}" if info["final_eval_loss"] is not None else "–")
    cols[2].metric("Tokens/s", f"{steps[-1]['tokens_per_s']:.0f}" if steps else "–")
    cols[3].metric(
        "Elapsed",
        runner.elapsed_text(state["elapsed_s"]),
        help="Wall time of this session: loading, evaluating, "
        "training and saving (a resumed run counts from its restart).",
    )
    if steps:
        st.altair_chart(loss_chart(records), width="stretch")
    run_controls(run_dir, status, job, info)
    st.caption("Log (last 30 lines)")
    st.code(runs.log_tail(run_dir, 30) or "(no output yet)", language=None, wrap_lines=True)


def pick_run(listed: list[dict], key: str, only_with_adapter: bool = False) -> Path | None:
    names = [r["run"] for r in listed if r["has_adapter"] or not only_with_adapter]
    if not names:
        st.caption("No finished run with an adapter yet." if only_with_adapter else "No runs yet.")
        return None
    if st.session_state.get(key) not in names:
        running = [r["run"] for r in listed if r["status"] == "running" and r["run"] in names]
        st.session_state[key] = (running or names)[0]
    name = st.selectbox("Run", names, key=key)
    return runs.runs_root() / name


def runs_view(listed: list[dict]) -> None:
    if not listed:
        st.caption(f"No runs yet in {runs.runs_root()}.")
        return
    table = pd.DataFrame(listed).drop(columns=["path", "has_adapter", "has_checkpoint"])
    st.dataframe(table, hide_index=True, width="stretch", key="ft_runs_table")
    scored = table.dropna(subset=["final_eval_loss"])
    if not scored.empty:
        chart = (
            alt.Chart(scored)
            .mark_bar()
            .encode(
                x=alt.X("final_eval_loss:Q", title="final eval loss"),
                y=alt.Y("run:N", sort="x", title=None),
                tooltip=["run:N", "snapshot:N", "settings:N", alt.Tooltip("final_eval_loss:Q", format=".4f")],
            )
        )
        st.altair_chart(chart, width="stretch")


def latest_job(run_dir: Path, kind: str) -> dict | None:
    listed = jobs_table.list_jobs(store, kinds=[kind], limit=200)
    match = listed[listed["run_dir"] == str(run_dir)]
    return None if match.empty else match.iloc[0].to_dict()


def submit_for_run(kind: str, run_dir: Path, work) -> None:
    def fn(ctx) -> dict:
        ctx.set_run_info(run_dir=str(run_dir))
        return work(ctx) or {}

    jobs.submit(kind, fn, {"run_dir": str(run_dir)})


@st.fragment(run_every=2)
def compare_results(run_dir: Path) -> None:
    for kind in (COMPARE_KIND, SLICES_KIND):
        job = latest_job(run_dir, kind)
        if job and job["status"] in ("queued", "running"):
            st.progress(float(job["progress"]), text=f"{kind}: {job['message'] or 'starting'}")
        elif job and job["status"] == "failed":
            st.error(inert(f"{kind} failed: {job['error']}"))
    pairs, slices = compare.saved_comparison(run_dir)
    for pair in pairs or []:
        with st.container(border=True):
            st.text(f"#{pair['id']}  {pair['instruction']}" + (f"\n{pair['input']}" if pair["input"] else ""))
            base, tuned, reference = st.columns(3)
            base.caption("Base")
            base.text(pair["base"])
            tuned.caption("Tuned")
            tuned.text(pair["tuned"])
            reference.caption("Reference")
            reference.text(pair["reference"])
    if slices is not None:
        st.altair_chart(slice_chart(slices), width="stretch")
        st.dataframe(slices.round(4), hide_index=True, width="stretch", key="ft_slices_table")


def slice_chart(slices: pd.DataFrame) -> alt.Chart:
    long = slices.assign(group=slices["slice"] + ": " + slices["value"].astype(str)).melt(
        id_vars=["group"], value_vars=["base_loss", "tuned_loss"], var_name="model", value_name="loss"
    )
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("group:N", title=None),
            yOffset="model:N",
            x=alt.X("loss:Q", title="held-out loss (response tokens)"),
            color=alt.Color("model:N", title=None),
            tooltip=["group:N", "model:N", alt.Tooltip("loss:Q", format=".4f")],
        )
    )


def compare_view(listed: list[dict]) -> None:
    run_dir = pick_run(listed, "ft_cmp_run", only_with_adapter=True)
    if run_dir is None:
        return
    try:
        heldout = compare.heldout_rows(run_dir)
    except (OSError, ValueError) as err:
        st.info(inert(err))
        return
    labels = {int(i): f"#{i} {text[:80]}" for i, text in zip(heldout["id"], heldout["instruction"], strict=True)}
    ids = st.multiselect(
        "Held-out instructions", list(labels), list(labels)[:3], format_func=labels.get, key="ft_cmp_ids"
    )
    tokens = st.number_input("Max new tokens", 8, 512, 64, step=8, key="ft_cmp_tokens")

    def generate(ctx) -> dict:
        return {"rows": len(compare.side_by_side(run_dir, ids, 0, int(tokens), ctx.progress))}

    def losses(ctx) -> dict:
        return {"rows": len(compare.slice_losses(run_dir, progress=ctx.progress))}

    left, right = st.columns(2)
    if left.button("Generate base vs tuned", key="ft_cmp_go", disabled=not ids):
        submit_for_run(COMPARE_KIND, run_dir, generate)
    if right.button("Eval loss per slice (source, task cluster, CoT)", key="ft_slices_go"):
        submit_for_run(SLICES_KIND, run_dir, losses)
    compare_results(run_dir)


def experiments_view(listed: list[dict]) -> None:
    """Runs of one experiment side by side: eval loss curves, per-slice eval loss, base vs each tuned answer."""
    names = runs.experiment_names(listed)
    if not names:
        st.caption("No experiment yet: launch one from New run (Launch as an experiment).")
        return
    name = st.selectbox("Experiment", names, key="ft_exp_pick")
    members = [r for r in listed if r["experiment"] == name]
    table = pd.DataFrame(members)[["run", "snapshot", "status", "step", "total_steps", "first_eval_loss"]]
    st.dataframe(table.assign(final_eval_loss=[r["final_eval_loss"] for r in members]), hide_index=True)
    run_dirs = [Path(r["path"]) for r in members]
    experiment_results(name, run_dirs)


@st.fragment(run_every=2)
def experiment_results(name: str, run_dirs: list[Path]) -> None:
    frame = runs.experiment_losses(run_dirs)
    if not frame.empty:
        chart = (
            alt.Chart(frame)
            .mark_line(point=True)
            .encode(
                x=alt.X("step:Q"),
                y=alt.Y("loss:Q", title="eval loss (shared held-out set)", scale=alt.Scale(zero=False)),
                color=alt.Color("snapshot:N"),
                detail="run:N",
                tooltip=["snapshot:N", "run:N", "step:Q", alt.Tooltip("loss:Q", format=".4f")],
            )
        )
        st.altair_chart(chart, width="stretch")
    folder = runs.runs_root() / f".experiment-{name}"  # the experiment's compare results, beside its runs
    ready = all((d / runs.ADAPTER / "adapter_config.json").exists() for d in run_dirs)
    left, right = st.columns(2)

    def slices(ctx) -> dict:
        folder.mkdir(parents=True, exist_ok=True)
        table = compare.experiment_slices(run_dirs, progress=ctx.progress)
        runs.write_json(folder / runs.SLICES, table.to_dict("records"))
        return {"rows": len(table)}

    def answers(ctx) -> dict:
        folder.mkdir(parents=True, exist_ok=True)
        frame = compare.experiment_answers(run_dirs, n=3)
        runs.write_json(folder / runs.COMPARE, frame.to_dict("records"))
        return {"rows": len(frame)}

    if left.button("Eval loss per slice, every run", key="ft_exp_slices", disabled=not ready):
        submit_for_run(EXP_SLICES_KIND, folder, slices)
    if right.button("Base vs each tuned model's answers", key="ft_exp_answers", disabled=not ready):
        submit_for_run(EXP_ANSWERS_KIND, folder, answers)
    accuracy_controls(name, run_dirs, folder, ready)
    for kind in (EXP_SLICES_KIND, EXP_ANSWERS_KIND, EXP_ACCURACY_KIND):
        job = latest_job(folder, kind)
        if job and job["status"] in ("queued", "running"):
            st.progress(float(job["progress"]), text=f"{kind}: {job['message'] or 'starting'}")
        elif job and job["status"] == "failed":
            st.error(inert(f"{kind} failed: {job['error']}"))
    saved = runs.read_json(folder / runs.SLICES)
    if saved:
        table = pd.DataFrame(saved)
        table["group"] = table["slice"] + ": " + table["value"].astype(str)
        chart = (
            alt.Chart(table)
            .mark_bar()
            .encode(
                y=alt.Y("group:N", title=None),
                yOffset="snapshot:N",
                x=alt.X("tuned_loss:Q", title="held-out loss after tuning"),
                color=alt.Color("snapshot:N"),
                tooltip=["group:N", "snapshot:N", alt.Tooltip("tuned_loss:Q", format=".4f"), "examples:Q"],
            )
        )
        st.altair_chart(chart, width="stretch")
        pivot = table.pivot_table(index=["slice", "value"], columns="snapshot", values="tuned_loss").reset_index()
        base = table.drop_duplicates(["slice", "value"])[["slice", "value", "examples", "base_loss"]]
        st.dataframe(base.merge(pivot, on=["slice", "value"]).round(4), hide_index=True, key="ft_exp_slice_table")
    answers_saved = runs.read_json(folder / runs.COMPARE)
    if answers_saved:
        st.dataframe(pd.DataFrame(answers_saved), hide_index=True, key="ft_exp_answers_table")
    accuracy_results(name, run_dirs)


def accuracy_controls(name: str, run_dirs: list[Path], folder: Path, ready: bool) -> None:
    """Score the base model and every run on the same held-out items (rank classification / exact match)."""
    left, right = st.columns([1, 2])
    limit = left.number_input("Held-out items", 1, 100_000, 500, key="ft_exp_acc_items")

    def accuracy(ctx) -> dict:
        ids = evaluation.evaluate_experiment(ctx.store, name, run_dirs, int(limit), ctx.progress)
        return {"results": len(ids)}

    right.write("")
    if right.button("Accuracy: base and every run, same held-out items", key="ft_exp_accuracy", disabled=not ready):
        submit_for_run(EXP_ACCURACY_KIND, folder, accuracy)


def accuracy_results(name: str, run_dirs: list[Path]) -> None:
    table = evaluation.experiment_table(store, name, run_dirs)
    if table.empty:
        return
    st.markdown("**Accuracy on the held-out items** (95% bootstrap CI; Δ and paired p vs base and vs the first run)")
    columns = ["slice", "value", "snapshot", "n", "accuracy_ci", "vs_base", "p_base", "vs_first", "p_first", "model"]
    st.dataframe(table[columns].round(4), hide_index=True, key="ft_exp_accuracy_table")


def export_view(listed: list[dict]) -> None:
    st.subheader("Adapter and merged model")
    run_dir = pick_run(listed, "ft_exp_run", only_with_adapter=True)
    if run_dir is not None:
        st.download_button(
            "Download adapter (zip with config and manifest)",
            export.adapter_zip(run_dir),
            file_name=f"{run_dir.name}-adapter.zip",
            mime="application/zip",
            key="ft_adapter_zip",
        )
        if st.button("Export merged model", key="ft_merge_go"):
            submit_for_run(MERGE_KIND, run_dir, lambda ctx: {"path": str(export.export_merged(run_dir))})
        job = latest_job(run_dir, MERGE_KIND)
        if job:
            st.text(f"Merged model export: {job['status']} {job['error'] or ''}")
            st.code(str(config.get_path("exports_dir") / "models" / run_dir.name), language=None)
    st.subheader("Snapshot for LLaMA-Factory")
    found = snapshot.list_snapshots()
    if not found:
        st.caption("No snapshots yet.")
        return
    chosen = st.selectbox("Snapshot", found, format_func=snapshot_label, key="ft_lf_snapshot")
    out = config.get_path("exports_dir") / "llamafactory"
    replace = st.checkbox("Replace dataset files that exist with other content", key="ft_lf_force")
    if st.button("Export (alpaca / sharegpt files + dataset_info.json)", key="ft_lf_go"):
        try:
            result = export.export_llamafactory(Path(chosen["path"]), out, overwrite=replace)
        except (ValueError, OSError) as err:
            st.error(inert(err))
            return
        st.success(inert(f"Wrote {', '.join(f'{k} ({v} rows)' for k, v in result['datasets'].items())} to:"))
        st.code(str(out), language=None)


st.title("Fine-tune")
listed = runs.list_runs()
if "ft_goto" in st.session_state:
    st.session_state["ft_view"], st.session_state["ft_run"] = "Monitor", st.session_state.pop("ft_goto")
if "ft_goto_view" in st.session_state:
    st.session_state["ft_view"] = st.session_state.pop("ft_goto_view")
if "ft_view" not in st.query_params:  # a reload keeps the view (?ft_view=Runs), else the monitor once a run exists
    st.session_state.setdefault("ft_view", "Monitor" if listed else "New run")
view = (
    st.segmented_control("View", VIEWS, key="ft_view", label_visibility="collapsed", bind="query-params") or "Monitor"
)
if view == "New run":
    new_run_view()
elif view == "Monitor":
    chosen_run = pick_run(listed, "ft_run")
    if chosen_run is not None:
        monitor(chosen_run)
elif view == "Runs":
    runs_view(listed)
elif view == "Compare":
    compare_view(listed)
elif view == "Experiments":
    experiments_view(listed)
else:
    export_view(listed)
