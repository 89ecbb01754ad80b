"""LoRA fine-tuning on snapshots: config and validation, data formatting, the trainer process, its runner.

The trainer (`python -m curation.finetune.train RUN_DIR`) runs in its own process and reads only its run folder
and the snapshot files; the app watches the run folder through a job (`runner.py`).

May import: `curation.mixture` (snapshots), `curation.jobs`, `curation.config`, `curation.models`, `curation.files`;
never the store (the trainer runs while the app holds the database lock).
"""
