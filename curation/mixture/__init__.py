"""Mixtures: the mixing math (`plan`: caps, weights, temperature, CoT share), sampling and export into an
immutable snapshot (`export`), and reading / naming snapshots (`snapshot`).

May import: `curation.store`, `curation.cot` (CoT targets), `curation.jobs`, `curation.config`, `curation.filters`,
`curation.files`.
"""
