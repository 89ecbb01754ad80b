"""Evaluation: accuracy of the base model, a run's adapter or a merged model on held-out items, with intervals.

Multiple choice is scored FLAN-style by rank classification over the options; free-form answers by exact match of
the extracted final answer. `items` reads item sets (a strict JSONL file or a snapshot's held-out split),
`engine` loads a model and scores, `stats` gives bootstrap intervals and paired differences, `experiment` builds
the per-run, per-slice accuracy table of a fine-tune experiment, `lm_eval_task` runs lm-evaluation-harness.

May import: `curation.finetune` (run folders, loading a run's adapter), `curation.mixture` (snapshots),
`curation.models`, `curation.jobs`, `curation.config`, `curation.store` (saved results).
"""
