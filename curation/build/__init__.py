"""Building instructions: the FLAN-style task registry and templates (`templates`, `template_formats`),
Self-Instruct bootstrapping (`selfinstruct` stages, `selfinstruct_job`) and the LLM backends it uses (`llm`).

May import: `curation.store`, `curation.io` (reading labelled files), `curation.dedup` (ROUGE-L for the
Self-Instruct pool filter), `curation.jobs`, `curation.config`, `curation.filters`, `curation.models`.
"""
