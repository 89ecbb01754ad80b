"""Near-duplicate detection: exact ROUGE-L joins, embedding similarity, clusters and keep rules."""
