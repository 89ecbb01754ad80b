"""Curation operations on one protocol: each operation is one module with a pure `score(rows, params)` and a
`decide(signals, params)`; everything around it (the signals table, the version-aware job, the filter clause,
the CLI verbs, the page panel, the drop report, the undoable action) is shared and lives outside the module.

`base` holds the contract (`RowText`, `Signal`, `Decision`, `Operation`) and the registry.

`run` is the shared machinery: `score_filtered` / `scoring_job` (the version-aware job on a handed-in executor),
`plan` (what decide() would change) and `apply_decisions` (one undoable action). `judge` is the LLM-judge rating.

May import: `curation.store`, `curation.jobs`, `curation.filters`, `curation.cot`, `curation.dedup`, `curation.io`,
`curation.generate` (LLM backends, for the judge).
"""
