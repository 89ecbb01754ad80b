"""The trainer process: `python -m curation.finetune.train RUN_DIR` (LoRA with peft on transformers' Trainer).

Reads RUN_DIR/config.yaml and the snapshot files it names (never the database), writes JSON lines of
progress, a log, resumable checkpoints (checkpoints/checkpoint-N, the Trainer's own) and the adapter into RUN_DIR.
A `cancel` file in RUN_DIR or SIGTERM, seen by any process, stops every process at the same step boundary
and saves a checkpoint and the adapter. Restarting on the same folder resumes from the last checkpoint and drops
progress lines past it. The same command runs on several processes or GPUs unchanged:

    accelerate launch --num_processes 4 -m curation.finetune.train RUN_DIR
    torchrun --nproc_per_node 4 -m curation.finetune.train RUN_DIR

What is ours, on top of the Trainer: the data (every assistant turn trains, packing with attention kept inside
each example), a sequential order of pre-built micro-batches (so a resume continues exactly), a token-weighted
eval loss, and the run-folder callback (progress lines, stop requests agreed across ranks).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from curation.finetune import runs
from curation.finetune.config import ALL_LINEAR, TrainConfig, load_config, precision

log = logging.getLogger("curation.finetune.train")


class StopRequest:
    """Set by a `cancel` file in the run folder or by SIGTERM; read by each process at its step boundary."""

    def __init__(self, run_dir: Path) -> None:
        self.file = run_dir / runs.CANCEL
        self.signalled = False
        with contextlib.suppress(ValueError):  # not in the main thread (tests calling train() directly)
            signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signalled = True

    def __bool__(self) -> bool:
        return self.signalled or self.file.exists()


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
    """Base model (fp32, or 4-bit NF4 for QLoRA) with LoRA adapters (seeded, so the adapter init is reproducible)."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    torch.manual_seed(cfg.seed)
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if cfg.load_in_4bit:
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if precision(cfg) == "bf16" else torch.float16
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute
        )
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    model.config.use_cache = False
    if cfg.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
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


class RunBatches:
    """The whole run's micro-batches in order (epochs repeat, each in a new seeded order), built on demand.

    Item i is one ready micro-batch; the Trainer reads them sequentially and gives process r items r, r+W, ...
    """

    def __init__(self, examples: list[Any], cfg: TrainConfig, pad_id: int, processes: int) -> None:
        self.examples, self.cfg, self.pad_id = examples, cfg, pad_id
        self._cache: tuple[int, list[dict[str, Any]]] | None = None
        per_epoch = len(self._epoch(0))
        self.per_rank = max(1, per_epoch // processes)  # micro-batches per process per epoch (ranks stay aligned)
        self.per_epoch = self.per_rank * processes
        self.steps = cfg.max_steps or cfg.epochs * max(1, math.ceil(self.per_rank / cfg.grad_accum))
        if cfg.token_budget:
            self.steps = self.steps_for_budget(cfg.token_budget, processes)
        self.length = self.steps * cfg.grad_accum * processes

    def steps_for_budget(self, budget: int, processes: int) -> int:
        """Fewest optimizer steps whose micro-batches (all processes together) hold at least `budget` tokens."""
        seen, index, per_step = 0, 0, self.cfg.grad_accum * processes
        while seen < budget:
            seen += self[index]["tokens"]
            index += 1
        return math.ceil(index / per_step)

    def _epoch(self, epoch: int) -> list[dict[str, Any]]:
        from curation.finetune.data import epoch_batches

        if self._cache is None or self._cache[0] != epoch:
            cfg = self.cfg
            batches = epoch_batches(
                self.examples, cfg.batch_size, cfg.packing, cfg.max_seq_len, cfg.seed + epoch, self.pad_id
            )
            self._cache = (epoch, batches)
        return self._cache[1]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        epoch, position = divmod(index, self.per_epoch)
        return self._epoch(epoch)[position % len(self._epoch(epoch))]


def first_item(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Collator for a loader of ready micro-batches (batch size 1)."""
    return items[0]


PHASE_EVERY_S = 1.0  # evaluation progress is written at most this often


def write_phase(run_dir: Path, main: bool, name: str, done: int = 0, total: int = 0) -> None:
    """Append {"type": "phase", ...} to progress.jsonl (main process only)."""
    if main:
        record = {"type": "phase", "phase": name, "done": int(done), "total": int(total), "time": time.time()}
        with (run_dir / runs.PROGRESS).open("a", encoding="utf-8") as fh:
            fh.write(runs.json_line(record))


class RunFolderCallback:
    """Writes progress.jsonl from the Trainer's logs and stops every rank together on a stop request."""

    def __init__(self, run_dir: Path, main: bool, stop: StopRequest, elapsed_s: float) -> None:
        self.path, self.main, self.stop = run_dir / runs.PROGRESS, main, stop
        self.tokens = 0  # tokens of this process since the last step (the trainer adds to it)
        self.step_tokens, self.step_s, self.elapsed_s = 0, 0.0, elapsed_s
        self.step_times: list[float] = []
        self.stopped = False
        self._started = time.perf_counter()

    def write(self, record: dict[str, Any]) -> None:
        if self.main:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(runs.json_line({**record, "time": time.time()}))

    def phase(self, name: str, done: int = 0, total: int = 0) -> None:
        """A phase record (loading, evaluating, training, saving) with its own progress, for the monitor."""
        write_phase(self.path.parent, self.main, name, done, total)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Agree on stop and token counts across processes (one all-reduce per step), then act on them."""
        import torch
        import torch.distributed as dist

        flags = torch.tensor([float(bool(self.stop)), float(self.tokens)], device=args.device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(flags)
        self.tokens = 0
        self.step_s = time.perf_counter() - self._started
        self.step_tokens = int(flags[1])
        self.elapsed_s += self.step_s
        self.step_times = [*self.step_times[-19:], self.step_s]
        if flags[0] > 0 and state.global_step < state.max_steps:
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True
            control.should_evaluate = False
        control.should_log = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        step, total = state.global_step, state.max_steps
        if "loss" in logs:
            eta = sum(self.step_times) / max(1, len(self.step_times)) * (total - step)
            record = {
                "type": "step",
                "step": step,
                "total_steps": total,
                "loss": logs["loss"],
                "lr": logs.get("learning_rate"),
                "tokens": self.step_tokens,
                "tokens_per_s": self.step_tokens / max(self.step_s, 1e-9),
                "step_s": self.step_s,
                "eta_s": eta,
                "elapsed_s": self.elapsed_s,
                "epoch": logs.get("epoch", state.epoch),
            }
            self.write(record)
            if self.main:
                rate = record["tokens_per_s"]
                log.info("step %d/%d loss %.4f %.0f tok/s eta %.0fs", step, total, logs["loss"], rate, eta)
        if "eval_loss" in logs:
            self.write({"type": "eval", "step": step, "eval_loss": logs["eval_loss"]})
            if self.main:
                log.info("step %d/%d eval_loss %.4f", step, total, logs["eval_loss"])


def make_trainer_class() -> type:
    """transformers.Trainer with a sequential order of ready micro-batches and a token-weighted eval loss."""
    import torch
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    class LoraTrainer(Trainer):
        run_callback: RunFolderCallback
        eval_batches: list[dict[str, Any]]

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            return SequentialSampler(train_dataset or self.train_dataset)

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            self.run_callback.tokens += int(inputs.pop("tokens", 0))
            return super().training_step(model, inputs, num_items_in_batch)

        def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval") -> dict:
            """Mean loss over every held-out response token of every process (Trainer's own is per batch)."""
            from curation.finetune.data import model_inputs

            model, device = self.model, self.args.device
            was_training = model.training
            model.eval()
            total = torch.zeros(2, device=device)
            count, written = len(self.eval_batches), time.monotonic()
            self.run_callback.phase("evaluating", 0, count)
            with torch.no_grad(), self.compute_loss_context_manager():
                for index, batch in enumerate(self.eval_batches, start=1):
                    inputs = model_inputs(batch, device)
                    n = (inputs["labels"][:, 1:] != -100).sum()
                    total += torch.stack([model(**inputs).loss.float() * n, n.float()])
                    if time.monotonic() - written >= PHASE_EVERY_S:
                        self.run_callback.phase("evaluating", index, count)
                        written = time.monotonic()
            model.train(was_training)  # a step record after this says training again (the monitor reads it so)
            total = self.accelerator.reduce(total, reduction="sum")
            metrics = {f"{metric_key_prefix}_loss": float(total[0] / total[1])} if total[1] > 0 else {}
            if metrics:
                self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics=metrics)
            return metrics

    return LoraTrainer


def as_trainer_callback(callback: RunFolderCallback) -> Any:
    """The run-folder callback as a transformers TrainerCallback."""
    from transformers import TrainerCallback

    class _Callback(TrainerCallback):
        on_step_begin = staticmethod(callback.on_step_begin)
        on_step_end = staticmethod(callback.on_step_end)
        on_log = staticmethod(callback.on_log)

    return _Callback()


def training_args(cfg: TrainConfig, run_dir: Path, steps: int, has_eval: bool) -> Any:
    """TrainingArguments for our settings: logging every step, our eval/save intervals, precision by device."""
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    mixed = precision(cfg)
    return TrainingArguments(
        output_dir=str(run_dir / runs.CHECKPOINTS),
        max_steps=steps,
        per_device_train_batch_size=1,  # each item is a ready micro-batch of cfg.batch_size rows
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        weight_decay=0.0,
        lr_scheduler_type="linear",
        warmup_steps=cfg.warmup_steps,
        max_grad_norm=1.0,
        logging_strategy="steps",
        logging_steps=1,
        eval_strategy="steps" if has_eval and cfg.eval_interval else "no",
        eval_steps=cfg.eval_interval or None,
        save_strategy="steps" if cfg.save_interval else "no",
        save_steps=cfg.save_interval or 500,
        save_total_limit=1,
        save_only_model=False,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=mixed == "bf16",
        fp16=mixed == "fp16",
        use_cpu=not cuda,
        ddp_backend="gloo" if not cuda and int(os.environ.get("WORLD_SIZE", 1)) > 1 else None,
        dataloader_num_workers=0,
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        average_tokens_across_devices=True,
    )


def restored_step(checkpoint: Path | None) -> int:
    state = runs.read_json(checkpoint / "trainer_state.json") if checkpoint else None
    return int((state or {}).get("global_step", 0))


class RunSession:
    """One training session on a run folder (fresh or resumed)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.cfg = load_config(run_dir / runs.CONFIG)
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.main = self.rank == 0
        setup_logging(run_dir, self.main)
        if self.main:  # also when started by hand (accelerate launch / torchrun), so the app sees it running
            (run_dir / runs.PID).write_text(str(os.getpid()))
        self.stop = StopRequest(run_dir)
        self.checkpoint = runs.last_checkpoint(run_dir)
        self.resumed = restored_step(self.checkpoint)

    def encode(self) -> None:
        """Read the snapshot and tokenise both splits under the same long-row rule."""
        from curation.finetune import data
        from curation.mixture.snapshot import load_snapshot
        from curation.models import resolve_model_dir

        cfg = self.cfg
        log.info("run %s: reading snapshot %s", self.run_dir.name, cfg.snapshot)
        train_df, heldout_df, _ = load_snapshot(cfg.snapshot)
        if cfg.eval_snapshot:
            heldout_df = load_snapshot(cfg.eval_snapshot)[1]
        self.model_dir = resolve_model_dir(cfg.base_model)
        self.tok = data.load_tokenizer(str(self.model_dir))
        args = (self.tok, cfg.prompt_format, cfg.max_seq_len)
        self.train_set, problems = data.encode_frame(train_df, *args, cfg.response_only_loss, cfg.long_rows)
        for problem in problems:
            log.warning("train row left out: %s", problem)
        if not self.train_set:
            raise ValueError("no trainable example in the snapshot's train split")
        heldout, held_problems = data.encode_frame(heldout_df, *args, True, cfg.long_rows)
        for problem in held_problems:
            log.warning("held-out row left out of eval loss: %s", problem)
        self.heldout = heldout[: cfg.eval_max_examples]
        if len(heldout_df) and not self.heldout:
            raise ValueError(f"every held-out row was left out (long_rows: {cfg.long_rows}); the eval set is empty")
        self.skipped = len(problems)

    def build(self) -> Any:
        """The Trainer over our data, model and callback."""
        from curation.finetune.data import collate_padded

        cfg, pad = self.cfg, self.tok.pad_token_id
        self.batches = RunBatches(self.train_set, cfg, pad, self.world)
        shard = self.heldout[self.rank :: self.world]
        size = cfg.batch_size
        eval_batches = [collate_padded(shard[i : i + size], pad) for i in range(0, len(shard), size)]
        prior = [r for r in runs.read_progress(self.run_dir) if r.get("type") == "step"]
        self.callback = RunFolderCallback(self.run_dir, self.main, self.stop, prior[-1]["elapsed_s"] if prior else 0.0)
        trainer_class = make_trainer_class()
        trainer = trainer_class(
            model=build_model(cfg, self.model_dir),
            args=training_args(cfg, self.run_dir, self.batches.steps, bool(self.heldout)),
            train_dataset=self.batches,
            eval_dataset=self.heldout or None,  # only for the Trainer's checks: evaluate() reads eval_batches
            data_collator=first_item,
            callbacks=[as_trainer_callback(self.callback)],
        )
        trainer.run_callback, trainer.eval_batches = self.callback, eval_batches
        log.info(
            "%d train examples (%d truncated, %d left out), %d held-out, %d micro-batches/epoch, %d steps, "
            "%d process(es), device %s, precision %s",
            len(self.train_set),
            sum(e.truncated for e in self.train_set),
            self.skipped,
            len(self.heldout),
            self.batches.per_epoch,
            self.batches.steps,
            self.world,
            trainer.args.device,
            precision(cfg),
        )
        return trainer

    def run(self) -> dict[str, Any]:
        """Train to the end or to a stop request; returns the result written to result.json."""
        cfg, started = self.cfg, time.time()
        if self.main:
            runs.truncate_progress(self.run_dir, self.resumed)
        write_phase(self.run_dir, self.main, "loading")
        self.encode()
        trainer = self.build()
        self.callback.write(
            {"type": "start", "total_steps": self.batches.steps, "resumed_from": self.resumed, "pid": os.getpid()}
        )
        if self.resumed:
            log.info("resuming from %s at step %d", self.checkpoint, self.resumed)
        elif self.heldout and cfg.eval_interval:
            trainer.evaluate()
        self.callback.phase("training", self.resumed, self.batches.steps)
        trainer.train(resume_from_checkpoint=str(self.checkpoint) if self.checkpoint else None)
        step = trainer.state.global_step
        if not self.callback.stopped and self.heldout and not cfg.eval_interval:
            trainer.evaluate()  # the final eval loss (with an interval, the Trainer takes it at the last step)
        self.callback.phase("saving")
        trainer.save_model(str(self.run_dir / runs.ADAPTER))
        if self.main:
            self.tok.save_pretrained(self.run_dir / runs.ADAPTER)
        status = "cancelled" if self.callback.stopped else "succeeded"
        return self.result(status, step, trainer, time.time() - started)

    def result(self, status: str, step: int, trainer: Any, session_s: float) -> dict[str, Any]:
        records = runs.read_progress(self.run_dir)
        losses = [r for r in records if r.get("type") == "step"]
        evals = [r for r in records if r.get("type") == "eval"]
        return {
            "status": status,
            "step": step,
            "total_steps": self.batches.steps,
            "final_loss": losses[-1]["loss"] if losses else None,
            "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
            "first_eval_loss": evals[0]["eval_loss"] if evals else None,
            "duration_s": self.callback.elapsed_s,
            "session_s": session_s,
            "train_tokens": sum(r.get("tokens", 0) for r in losses),
            "adapter": str(self.run_dir / runs.ADAPTER),
            "device": str(trainer.args.device),
            "precision": precision(self.cfg),
            "processes": self.world,
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
    session = RunSession(run_dir)
    if session.main:
        (run_dir / runs.RESULT).unlink(missing_ok=True)
    result = session.run()
    if session.main:
        runs.write_json(run_dir / runs.RESULT, result)
        session.callback.write({"type": "end", "status": result["status"], "step": result["step"]})
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
