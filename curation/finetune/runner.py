"""Launch the trainer process (no shell) and mirror its run folder into a job row: progress, cancel, failure.

The job row keeps the pid and run folder, so a restarted app can reattach (`reattach`) or record how the run
ended. Cancelling the job writes the run folder's `cancel` file; the trainer stops after its current step.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curation import config
from curation.finetune import runs
from curation.finetune.config import TrainConfig, save_config
from curation.jobs import JobCancelled, JobContext, JobRunner
from curation.models import DEFAULT_MODEL
from curation.store import Store, jobs_table

JOB_KIND = "finetune"
POLL_S = 1.0


class TrainingFailed(RuntimeError):
    """The trainer process ended without a result: exit code and log tail in the message."""


def create_run(cfg: TrainConfig, root: Path | None = None) -> Path:
    """A new run folder with config.yaml (absolute paths) and a copy of the snapshot's manifest."""
    root = Path(root) if root is not None else runs.runs_root()
    snapshot = Path(cfg.snapshot).resolve()
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{snapshot.name}"[:80]
    run_dir, suffix = root / base, 1
    while run_dir.exists():
        suffix += 1
        run_dir = root / f"{base}-{suffix}"
    run_dir.mkdir(parents=True)
    fixed = TrainConfig(**{**cfg.to_dict(), "snapshot": str(snapshot)})
    if fixed.base_model not in ("", DEFAULT_MODEL):
        fixed.base_model = str(Path(fixed.base_model).expanduser().resolve())
    save_config(fixed, run_dir / runs.CONFIG)
    shutil.copyfile(snapshot / "manifest.json", run_dir / runs.MANIFEST)
    return run_dir


def trainer_command(run_dir: Path) -> list[str]:
    """The trainer's argv (tests replace this with a fake trainer)."""
    return [sys.executable, "-m", "curation.finetune.train", str(run_dir)]


def start_process(run_dir: Path) -> subprocess.Popen:
    """Start the trainer in its own session (it outlives the app), output appended to console.log."""
    run_dir = Path(run_dir).resolve()
    for stale in (runs.CANCEL, runs.RESULT):
        (run_dir / stale).unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(config.PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    with (run_dir / runs.CONSOLE).open("ab") as console:
        proc = subprocess.Popen(
            trainer_command(run_dir),
            cwd=config.PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (run_dir / runs.PID).write_text(str(proc.pid))
    return proc


def request_stop(run_dir: Path | str) -> None:
    """Ask the trainer to stop after its current step (it saves the adapter so far)."""
    path = Path(run_dir) / runs.CANCEL
    if path.parent.is_dir() and not path.exists():
        path.write_text("cancel requested\n")


def progress_message(record: dict[str, Any] | None) -> tuple[float, str]:
    """(fraction, one-line message) from the latest step record."""
    if not record:
        return 0.0, "starting: loading model and data"
    eta = int(record.get("eta_s") or 0)
    message = (
        f"step {record['step']}/{record['total_steps']} · loss {record['loss']:.4f} · "
        f"{record.get('tokens_per_s', 0):.0f} tok/s · ETA {eta // 60}m {eta % 60:02d}s"
    )
    return record["step"] / max(1, record["total_steps"]), message


PHASES = {
    "loading": "loading model and data",
    "evaluating": "evaluating on the held-out rows",
    "training": "training",
    "saving": "saving the adapter",
}


def run_state(records: list[dict[str, Any]], now: float | None = None) -> dict[str, Any]:
    """What the trainer is doing, from its progress records: phase, fraction of that phase, a one-line message
    (an ETA only while training), and the wall time since this session began (to `now`, or to the last record).

    The phase is the latest phase record, unless a step record came after it (then: training).
    """
    session = _session(records)
    latest = next((r for r in reversed(session) if r.get("type") in ("phase", "step")), None)
    started = next((r["time"] for r in session if "time" in r), None)
    last_time = session[-1].get("time") if session else None
    elapsed = None if started is None else max(0.0, (now or last_time or started) - started)
    state = {"elapsed_s": elapsed}
    if latest is None:
        return state | {"phase": "starting", "fraction": 0.0, "message": "starting: waiting for the trainer"}
    if latest["type"] == "step":
        fraction, message = progress_message(latest)
        return state | {"phase": "training", "fraction": fraction, "message": message}
    phase, done, total = latest["phase"], int(latest.get("done") or 0), int(latest.get("total") or 0)
    label = PHASES.get(phase, phase)
    if phase == "evaluating" and total:
        return state | {"phase": phase, "fraction": done / total, "message": f"{label}: batch {done}/{total}"}
    if phase == "training" and total:  # started (or resumed), no step finished yet
        return state | {"phase": phase, "fraction": done / total, "message": f"training: step {done}/{total}"}
    return state | {"phase": phase, "fraction": 1.0 if phase == "saving" else 0.0, "message": label}


def _session(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of the latest session: from its 'loading' phase (or its 'start' record) on."""
    starts = [i for i, r in enumerate(records) if r.get("type") == "phase" and r.get("phase") == "loading"]
    if not starts:
        starts = [i for i, r in enumerate(records) if r.get("type") == "start"]
    return records[starts[-1] :] if starts else records


def elapsed_text(seconds: float | None) -> str:
    """'7m 48s' (or '–' when unknown)."""
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m {seconds % 60:02d}s"


def _latest(run_dir: Path) -> tuple[float, str]:
    state = run_state(runs.read_progress(run_dir))
    return state["fraction"], state["message"]


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown (the process was not started by this app)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = "; out of memory or killed by hand" if -code == signal.SIGKILL else ""
        return f"exit code {code} (killed by {name}{hint})"
    return f"exit code {code}"


Report = Callable[[float, str], bool]


def follow(run_dir: Path, proc: subprocess.Popen | None, report: Report, poll_s: float = POLL_S) -> int | None:
    """Poll the trainer until it exits, passing (fraction, message) to `report`, which returns True to stop it.

    Returns the exit code (None for a process this one did not start). Ctrl+C stops the trainer cleanly.
    """
    pid = proc.pid if proc else runs.read_pid(run_dir)
    try:
        while True:
            code = proc.poll() if proc else (None if runs.pid_alive(pid, run_dir) else "gone")
            if report(*_latest(run_dir)):
                request_stop(run_dir)
            if code is not None:
                return None if code == "gone" else code
            time.sleep(poll_s)
    except KeyboardInterrupt:
        request_stop(run_dir)
        if proc:
            proc.wait()
        raise JobCancelled(f"cancelled; adapter so far in {run_dir / runs.ADAPTER}") from None


def outcome(run_dir: Path, code: int | None) -> dict:
    """result.json of a finished trainer, or TrainingFailed with the exit code and the log tail."""
    result = runs.read_json(run_dir / runs.RESULT)
    if code in (0, None) and result and result.get("status") in ("succeeded", "cancelled"):
        return result | {"run_dir": str(run_dir)}
    error = (result or {}).get("error")
    raise TrainingFailed(
        f"training process {describe_exit(code)}"
        + (f": {error}" if error else "")
        + f"\nlast lines of the log ({run_dir / runs.CONSOLE}):\n{runs.log_tail(run_dir, 20)}"
    )


def watch(ctx: JobContext, run_dir: Path, proc: subprocess.Popen | None = None, poll_s: float = POLL_S) -> dict:
    """Mirror the run folder into the job until the trainer exits; the job result is result.json."""
    ctx.set_run_info(pid=proc.pid if proc else runs.read_pid(run_dir), run_dir=str(run_dir))

    def report(fraction: float, message: str) -> bool:
        try:
            ctx.progress(fraction, None, message)
        except JobCancelled:
            return True
        return False

    result = outcome(run_dir, follow(run_dir, proc, report, poll_s))
    if result["status"] == "cancelled" and not ctx.cancelled():
        jobs_table.request_cancel(ctx.store, ctx.job_id)  # stopped by its cancel file or SIGTERM
        time.sleep(ctx.min_interval)  # let the context re-read the flag
    return result


def _job_fn(run_dir: Path, poll_s: float) -> Any:
    def fn(ctx: JobContext) -> dict:
        ctx.set_run_info(run_dir=str(run_dir))
        return watch(ctx, run_dir, start_process(run_dir), poll_s)

    return fn


def _params(run_dir: Path, resume: bool = False) -> dict[str, Any]:
    manifest = runs.read_json(run_dir / runs.MANIFEST) or {}
    return {"run_dir": str(run_dir), "snapshot": manifest.get("name"), "resume": resume}


def start(runner: JobRunner, run_dir: Path, poll_s: float = POLL_S, resume: bool = False) -> int:
    """Train an existing run folder in the background (its trainer process watched by a job); returns the job id."""
    run_dir = Path(run_dir).resolve()
    return runner.submit(JOB_KIND, _job_fn(run_dir, poll_s), _params(run_dir, resume))


def launch(runner: JobRunner, cfg: TrainConfig, root: Path | None = None, poll_s: float = POLL_S) -> tuple[int, Path]:
    """Create a run folder and train in the background; returns (job id, run folder)."""
    run_dir = create_run(cfg, root)
    return start(runner, run_dir, poll_s), run_dir


EXPERIMENT_KIND = "finetune-experiment"


def create_experiment(cfg: TrainConfig, snapshots: list[Path | str], name: str, root: Path | None = None) -> list[Path]:
    """One run folder per snapshot, with identical settings and token budget and one shared eval set.

    The eval set is `cfg.eval_snapshot`'s held-out split, else the first snapshot's.
    """
    if len(snapshots) < 2:
        raise ValueError("an experiment needs at least two snapshots")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name.strip()):
        raise ValueError(f"experiment: name {name!r} must be letters, digits, '_', '.' or '-' (up to 64)")
    shared = str(Path(cfg.eval_snapshot or snapshots[0]).resolve())
    base = TrainConfig(**{**cfg.to_dict(), "experiment": name.strip(), "eval_snapshot": shared})
    return [create_run(TrainConfig(**{**base.to_dict(), "snapshot": str(s)}), root) for s in snapshots]


def _experiment_fn(run_dirs: list[Path], poll_s: float) -> Any:
    """Train the runs one after another (they share the machine); a cancel stops the current run and the rest."""

    def fn(ctx: JobContext) -> dict:
        results = []
        for i, run_dir in enumerate(run_dirs):
            ctx.set_run_info(run_dir=str(run_dir))

            def report(fraction: float, message: str, i: int = i) -> bool:
                try:
                    ctx.progress((i + fraction) / len(run_dirs), None, f"run {i + 1}/{len(run_dirs)}: {message}")
                except JobCancelled:
                    return True
                return False

            result = outcome(run_dir, follow(run_dir, start_process(run_dir), report, poll_s))
            results.append(
                {"run": run_dir.name, "status": result["status"]} | {"eval_loss": result.get("final_eval_loss")}
            )
            if result["status"] != "succeeded":
                raise JobCancelled(f"cancelled during run {run_dir.name}; later runs not started")
        return {"runs": results}

    return fn


def launch_experiment(
    runner: JobRunner, cfg: TrainConfig, snapshots: list[Path | str], name: str, root: Path | None = None
) -> tuple[int, list[Path]]:
    """Create the experiment's run folders and train them one after another in one background job."""
    run_dirs = create_experiment(cfg, snapshots, name, root)
    params = {"experiment": name, "runs": [str(d) for d in run_dirs]}
    return runner.submit(EXPERIMENT_KIND, _experiment_fn(run_dirs, POLL_S), params), run_dirs


def run_experiment_foreground(runner: JobRunner, run_dirs: list[Path], on_progress: Any = None) -> dict | None:
    """Train an experiment's runs in this thread (CLI), one job for all of them."""
    params = {"runs": [str(d) for d in run_dirs]}
    return runner.run(EXPERIMENT_KIND, _experiment_fn(run_dirs, POLL_S), params, on_progress)


def check_resumable(run_dir: Path) -> None:
    """A run can resume unless it is running or already finished."""
    if not (run_dir / runs.CONFIG).is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no {runs.CONFIG})")
    status = runs.status_of(run_dir)
    if status == "running":
        raise ValueError(f"run {run_dir.name} is still running; cancel it first")
    if status == "succeeded":
        raise ValueError(f"run {run_dir.name} already finished; start a new run to train further")


def resume(runner: JobRunner, run_dir: Path, poll_s: float = POLL_S) -> int:
    """Continue a cancelled, failed or interrupted run from its last checkpoint, as a new job."""
    run_dir = Path(run_dir).resolve()
    check_resumable(run_dir)
    return start(runner, run_dir, poll_s, resume=True)


def run_foreground(runner: JobRunner, run_dir: Path, on_progress: Any = None, poll_s: float = POLL_S) -> dict | None:
    """Train in this thread (CLI): a job row, the trainer process, progress to `on_progress`."""
    run_dir = Path(run_dir).resolve()
    return runner.run(JOB_KIND, _job_fn(run_dir, poll_s), _params(run_dir), on_progress)


def detach(store: Store, run_dir: Path) -> int:
    """Start the trainer and leave it running (CLI --detach); the app reattaches to its job row on start."""
    run_dir = Path(run_dir).resolve()
    job_id = jobs_table.create(store, JOB_KIND, _params(run_dir), run_dir=str(run_dir))
    proc = start_process(run_dir)
    jobs_table.mark_running(store, job_id, pid=proc.pid)
    return job_id


def reattach(job: dict[str, Any], runner: JobRunner, poll_s: float = POLL_S) -> bool:
    """After an app restart: take over an unfinished training job (live process, or record how it ended)."""
    run_dir = Path(job.get("run_dir") or "")
    if not job.get("run_dir") or not (run_dir / runs.CONFIG).is_file():
        return False
    runner.adopt(job["id"], lambda ctx: watch(ctx, run_dir, None, poll_s))
    return True


def cancel(runner: JobRunner, run_dir: Path, job_id: int | None = None) -> None:
    """Cancel a run: flag its job (if any) and write the cancel file (works for detached runs too)."""
    if job_id is not None:
        runner.cancel(job_id)
    request_stop(run_dir)


def job_for_run(store: Store, run_dir: Path | str) -> dict[str, Any] | None:
    """The newest training job row for a run folder."""
    jobs = jobs_table.list_jobs(store, kinds=[JOB_KIND], limit=1000)
    match = jobs[jobs["run_dir"] == str(Path(run_dir).resolve())]
    return None if match.empty else match.iloc[0].to_dict()
