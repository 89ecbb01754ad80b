"""Near-duplicate detection: exact ROUGE-L joins, embedding similarity, clusters, keep rules, contamination.

Stages are plain functions testable without a database (`find_rouge_pairs`, `cosine_pairs`, `greedy_walk`,
`pair_clusters`); `rouge` is the rouge-score-exact tokenizer and F-measure everything is built on; `runs` ties
the stages to the store (record a run, review it, apply it as one undoable action). `encoder` runs the
embedding model on ONNX Runtime (or CUDA fp16), `index` searches very many vectors with faiss candidates and
exact re-scoring. The parallel stages run on the `curation.executors.Executor` a run is handed (this process by
default, a process pool, or Ray); no module here chooses one or imports Ray.

May import: `curation.store`, `curation.io` (reading evaluation files), `curation.jobs`, `curation.config`,
`curation.filters`, `curation.models`, `curation.executors`.
"""

from curation.dedup.clusters import KeepRule, greedy_walk, pair_clusters
from curation.dedup.embeddings import cosine_pairs
from curation.dedup.rouge_join import find_rouge_pairs
from curation.dedup.scopes import SCOPES, scope_texts

__all__ = ["SCOPES", "KeepRule", "cosine_pairs", "find_rouge_pairs", "greedy_walk", "pair_clusters", "scope_texts"]
