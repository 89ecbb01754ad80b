"""Chain-of-thought: the explainable reasoning detector (`detector`) and tagging rows with it (`tagging`).

May import: `curation.store`, `curation.jobs`, `curation.filters`.
"""
