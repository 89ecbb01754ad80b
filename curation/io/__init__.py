"""Data in and out: importers for every supported file format, exports with manifests, the sample data.

May import: `curation.store`, `curation.config`, `curation.filters`, `curation.models`, `curation.files` (safe
writes). Nothing else in `curation/` is needed to read or write a file.
"""
