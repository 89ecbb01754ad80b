"""Team review: local accounts and sign-in (`accounts`), review campaigns that assign rows to annotators with
overlap and resolve their separate responses (`campaigns`), and inter-annotator agreement (`agreement`).

Who is acting and what each role may do lives in `curation.identity`; the store checks it on every change.
May import: `curation.store`, `curation.identity`, `curation.config`, `curation.filters`.
"""
