"""The trainer process: `python -m curation.finetune.train RUN_DIR` (LoRA with peft, a plain torch loop).

Reads RUN_DIR/config.yaml and the snapshot files it names (never the database), writes JSON lines of
progress, a log, resumable checkpoints and the adapter into RUN_DIR. A `cancel` file in RUN_DIR or SIGTERM
stops it after the current step, saving the adapter so far. Restarting on the same folder resumes from the
last checkpoint. The same command runs on several GPUs unchanged:

    accelerate launch --num_processes 4 -m curation.finetune.train RUN_DIR
    torchrun --nproc_per_node 4 -m curation.finetune.train RUN_DIR
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.finetune import runs
from curation.finetune.config import ALL_LINEAR, TrainConfig, load_config

log = logging.getLogger("curation.finetune.train")


class StopRequest:
    """Set by a `cancel` file in the run folder or by SIGTERM; checked between micro-batches."""

    def __init__(self, run_dir: Path) -> None:
        self.file = run_dir / runs.CANCEL
        self.signalled = False
        with contextlib.suppress(ValueError):  # not in the main thread (tests calling train() directly)
            signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signalled = True

    def __bool__(self) -> bool:
        return self.signalled or self.file.exists()


class ProgressWriter:
    """Appends one JSON line per event to progress.jsonl (main process only) and mirrors it to the log."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.path = run_dir / runs.PROGRESS
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {**record, "time": time.time()}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=float) + "\n")


@dataclass
class LoopState:
    """Counters that a checkpoint carries across a resume."""

    step: int = 0
    elapsed_s: float = 0.0
    tokens: int = 0
    step_times: list[float] = field(default_factory=list)


def setup_logging(run_dir: Path, main: bool) -> None:
    """Log to stderr and (main process) to RUN_DIR/train.log; replaces handlers of an earlier run in this process."""
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if main:
        handlers.append(logging.FileHandler(run_dir / runs.LOG, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO if main else logging.WARNING)  # other ranks only speak up about problems
    log.propagate = False


def build_model(cfg: TrainConfig, model_dir: Path) -> Any:
    """Base model in float32 with LoRA adapters (seeded, so the adapter init is reproducible)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    targets: Any = ALL_LINEAR if ALL_LINEAR in cfg.target_modules else list(cfg.target_modules)
    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
    )
    return get_peft_model(model, lora)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up then linear decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def eval_loss(model: Any, batches: list[dict[str, Any]], acc: Any) -> float | None:
    """Token-weighted mean loss over the held-out batches (summed over processes)."""
    import torch

    from curation.finetune.data import model_inputs

    model.eval()  # every rank takes part in the reduce below, even one whose shard is empty
    total = torch.zeros(2, device=acc.device)
    with torch.no_grad():
        for batch in batches:
            inputs = model_inputs(batch, acc.device)
            n = (inputs["labels"][:, 1:] != -100).sum()
            total += torch.stack([model(**inputs).loss.float() * n, n.float()])
    model.train()
    total = acc.reduce(total, reduction="sum")
    return float(total[0] / total[1]) if total[1] > 0 else None


class Trainer:
    """One training session on a run folder (fresh or resumed)."""

    def __init__(self, run_dir: Path) -> None:
        import torch
        from accelerate import Accelerator

        self.run_dir = run_dir
        self.cfg = load_config(run_dir / runs.CONFIG)
        self.acc = Accelerator(cpu=not torch.cuda.is_available())  # cpu=True lets torchrun use gloo on CPU
        self.main = self.acc.is_main_process
        setup_logging(run_dir, self.main)
        if self.main:  # also when started by hand (accelerate launch / torchrun), so the app sees it running
            (run_dir / runs.PID).write_text(str(os.getpid()))
        self.stop = StopRequest(run_dir)
        self.progress = ProgressWriter(run_dir, self.main)
        self.state = LoopState()
        self._epochs: dict[int, list[dict[str, Any]]] = {}

    def prepare(self) -> None:
        """Read the snapshot, tokenise, build model and optimizer, restore a checkpoint if there is one."""
        import torch

        from curation.finetune import data
        from curation.mixture.snapshot import load_snapshot
        from curation.models import resolve_model_dir

        cfg = self.cfg
        log.info("run %s: reading snapshot %s", self.run_dir.name, cfg.snapshot)
        train_df, heldout_df, _ = load_snapshot(cfg.snapshot)
        model_dir = resolve_model_dir(cfg.base_model)
        self.tok = data.load_tokenizer(str(model_dir))
        self.train_set, problems = data.encode_frame(
            train_df, self.tok, cfg.prompt_format, cfg.max_seq_len, cfg.response_only_loss
        )
        for problem in problems:
            log.warning("skipped: %s", problem)
        if not self.train_set:
            raise ValueError("no trainable example in the snapshot's train split")
        heldout, held_problems = data.encode_frame(
            heldout_df.head(cfg.eval_max_examples), self.tok, cfg.prompt_format, cfg.max_seq_len, True
        )
        for problem in held_problems:
            log.warning("held-out row left out of eval loss: %s", problem)
        shard = heldout[self.acc.process_index :: self.acc.num_processes]
        pad = self.tok.pad_token_id
        self.eval_batches = [
            data.collate_padded(shard[i : i + cfg.batch_size], pad) for i in range(0, len(shard), cfg.batch_size)
        ]
        self.per_epoch = len(self._epoch(0)[self.acc.process_index :: self.acc.num_processes])
        self.per_epoch = int(self.acc.gather(torch.tensor([self.per_epoch], device=self.acc.device)).min())
        self.total = cfg.max_steps or cfg.epochs * max(1, math.ceil(self.per_epoch / cfg.grad_accum))
        log.info(
            "%d train examples (%d truncated, %d skipped), %d held-out, %d micro-batches/epoch, %d steps, device %s",
            len(self.train_set),
            sum(e.truncated for e in self.train_set),
            len(problems),
            len(heldout),
            self.per_epoch,
            self.total,
            self.acc.device,
        )
        self.model = build_model(cfg, model_dir)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, cfg.warmup_steps, self.total)
        )
        self._restore()
        self.model, self.optimizer = self.acc.prepare(self.model, self.optimizer)

    def _epoch(self, epoch: int) -> list[dict[str, Any]]:
        from curation.finetune.data import epoch_batches

        if epoch not in self._epochs:
            self._epochs = {
                epoch: epoch_batches(
                    self.train_set,
                    self.cfg.batch_size,
                    self.cfg.packing,
                    self.cfg.max_seq_len,
                    self.cfg.seed + epoch,
                    self.tok.pad_token_id,
                )
            }
        return self._epochs[epoch]

    def micro_batch(self, index: int) -> dict[str, Any]:
        """The index-th micro-batch of this process over the whole run (epochs repeat in a new order)."""
        epoch, pos = divmod(index, self.per_epoch)
        mine = self._epoch(epoch)[self.acc.process_index :: self.acc.num_processes]
        return mine[pos]

    def _restore(self) -> None:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        ckpt = self.run_dir / runs.CHECKPOINT
        if not (ckpt / "state.pt").exists():
            return
        set_peft_model_state_dict(self.model, load_file(ckpt / "adapter_model.safetensors"))
        saved = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=False)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.state = LoopState(**saved["loop"])
        log.info("resumed from checkpoint at step %d", self.state.step)

    def save_checkpoint(self) -> None:
        """Adapter + optimizer/scheduler/loop state, written to a temp folder then renamed into place."""
        import torch

        self.acc.wait_for_everyone()
        if self.main:
            target = self.run_dir / runs.CHECKPOINT
            tmp = target.with_name("tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            self.acc.unwrap_model(self.model).save_pretrained(tmp)
            loop = {**self.state.__dict__, "step_times": self.state.step_times[-20:]}
            state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "loop": loop}
            torch.save(state, tmp / "state.pt")
            old = target.with_name("old")
            shutil.rmtree(old, ignore_errors=True)
            if target.exists():
                target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        self.acc.wait_for_everyone()

    def save_adapter(self) -> None:
        self.acc.wait_for_everyone()
        if self.main:
            target = self.run_dir / runs.ADAPTER
            shutil.rmtree(target, ignore_errors=True)
            self.acc.unwrap_model(self.model).save_pretrained(target)
            self.tok.save_pretrained(target)

    def evaluate(self) -> None:
        loss = eval_loss(self.model, self.eval_batches, self.acc)
        if loss is not None:
            self.progress.write({"type": "eval", "step": self.state.step, "eval_loss": loss})
            log.info("step %d/%d eval_loss %.4f", self.state.step, self.total, loss)

    def train_step(self) -> bool:
        """One optimizer step over grad_accum micro-batches; False if a stop request cut it short."""
        import torch

        from curation.finetune.data import model_inputs

        cfg, started = self.cfg, time.perf_counter()
        sums = torch.zeros(2, device=self.acc.device)
        for k in range(cfg.grad_accum):
            if self.stop:
                self.optimizer.zero_grad()
                return False
            batch = self.micro_batch(self.state.step * cfg.grad_accum + k)
            sync = k == cfg.grad_accum - 1
            with contextlib.nullcontext() if sync else self.acc.no_sync(self.model):
                loss = self.model(**model_inputs(batch, self.acc.device)).loss
                self.acc.backward(loss / cfg.grad_accum)
            sums += torch.tensor([loss.item(), batch["tokens"]], device=self.acc.device)
        self.acc.clip_grad_norm_(self.model.parameters(), 1.0)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        self._record(self.acc.reduce(sums, reduction="sum"), lr, time.perf_counter() - started)
        return True

    def _record(self, sums: Any, lr: float, seconds: float) -> None:
        st, n = self.state, self.acc.num_processes
        st.step += 1
        st.elapsed_s += seconds
        st.tokens += int(sums[1])
        st.step_times = [*st.step_times[-19:], seconds]
        eta = sum(st.step_times) / len(st.step_times) * (self.total - st.step)
        record = {
            "type": "step",
            "step": st.step,
            "total_steps": self.total,
            "loss": float(sums[0]) / (n * self.cfg.grad_accum),
            "lr": lr,
            "tokens": int(sums[1]),
            "tokens_per_s": float(sums[1]) / max(seconds, 1e-9),
            "step_s": seconds,
            "eta_s": eta,
            "elapsed_s": st.elapsed_s,
            "epoch": st.step * self.cfg.grad_accum / self.per_epoch,
        }
        self.progress.write(record)
        log.info(
            "step %d/%d loss %.4f lr %.2e %.0f tok/s eta %.0fs",
            st.step,
            self.total,
            record["loss"],
            lr,
            record["tokens_per_s"],
            eta,
        )

    def run(self) -> dict[str, Any]:
        """Train to the end or to a stop request; returns the result written to result.json."""
        cfg, started = self.cfg, time.time()
        resumed = self.state.step
        self.progress.write({"type": "start", "total_steps": self.total, "resumed_from": resumed, "pid": os.getpid()})
        if resumed == 0 and cfg.eval_interval:
            self.evaluate()
        stopped = False
        while self.state.step < self.total:
            if not self.train_step():
                stopped = True
                break
            step = self.state.step
            if cfg.eval_interval and step % cfg.eval_interval == 0 and step < self.total:
                self.evaluate()
            if cfg.save_interval and step % cfg.save_interval == 0 and step < self.total:
                self.save_checkpoint()
            if self.stop:
                stopped = True
                break
        if not stopped or self.state.step == self.total:
            self.evaluate()
        self.save_checkpoint()
        self.save_adapter()
        return self._result("cancelled" if stopped else "succeeded", time.time() - started)

    def _result(self, status: str, session_s: float) -> dict[str, Any]:
        records = runs.read_progress(self.run_dir)
        losses = [r for r in records if r.get("type") == "step"]
        evals = [r for r in records if r.get("type") == "eval"]
        return {
            "status": status,
            "step": self.state.step,
            "total_steps": self.total,
            "final_loss": losses[-1]["loss"] if losses else None,
            "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
            "first_eval_loss": evals[0]["eval_loss"] if evals else None,
            "duration_s": self.state.elapsed_s,
            "session_s": session_s,
            "train_tokens": self.state.tokens,
            "adapter": str(self.run_dir / runs.ADAPTER),
            "device": str(self.acc.device),
            "processes": self.acc.num_processes,
            **peak_memory_mb(),
        }


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process (and peak GPU memory allocated, on CUDA), in MiB."""
    import torch

    peak: dict[str, float] = {}
    with contextlib.suppress(ImportError):
        import resource

        peak["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    if torch.cuda.is_available():
        peak["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def train(run_dir: Path | str) -> dict[str, Any]:
    """Run (or resume) the training in `run_dir`; writes and returns result.json."""
    run_dir = Path(run_dir).resolve()
    trainer = Trainer(run_dir)
    (run_dir / runs.RESULT).unlink(missing_ok=True)
    trainer.prepare()
    result = trainer.run()
    if trainer.main:
        runs.write_json(run_dir / runs.RESULT, result)
        trainer.progress.write({"type": "end", "status": result["status"], "step": result["step"]})
    log.info(
        "%s at step %d/%d; adapter in %s", result["status"], result["step"], result["total_steps"], result["adapter"]
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit code 0 on success or cancel, 1 on failure (with the traceback logged)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 2
    run_dir = Path(args[0])
    if not (run_dir / runs.CONFIG).is_file():
        print(f"error: {run_dir} has no {runs.CONFIG}; create the run with `python -m curation train`", file=sys.stderr)
        return 2
    try:
        train(run_dir)
    except Exception as err:
        log.exception("training failed: %s", err)
        if _is_oom(err):
            log.error("out of memory: lower batch_size or max_seq_len, or turn on gradient_checkpointing")
        with contextlib.suppress(OSError):
            runs.write_json(run_dir / runs.RESULT, {"status": "failed", "error": f"{type(err).__name__}: {err}"})
        return 1
    return 0


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or "out of memory" in str(err).lower()


if __name__ == "__main__":
    sys.exit(main())
