"""Chain-of-thought: the explainable reasoning detector (`detector` with the style-independent `signals`),
tagging rows with it (`tagging`), reasoning target formats and answer consistency (`formats`), and the
store-wide reasoning report (`report`).

May import: `curation.store`, `curation.jobs`, `curation.filters`.
"""
