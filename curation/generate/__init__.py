"""Generating instructions: the FLAN-style task registry and templates (`templates`, `template_formats`),
Self-Instruct bootstrapping (`selfinstruct` stages, `selfinstruct_job`), the LLM backends (`llm`,
`openai_backend`, `fake_server`) with N requests in flight (`concurrent_requests`) and
Evol-Instruct rewrites (`evol`). LLM-judge ratings are a curation operation: `curation.operations.judge`.

May import: `curation.store`, `curation.io` (reading labelled files), `curation.dedup` (ROUGE-L for the
Self-Instruct pool filter), `curation.jobs`, `curation.config`, `curation.filters`, `curation.models`.
"""
