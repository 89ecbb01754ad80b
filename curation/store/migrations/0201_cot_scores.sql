-- CoT detector scores for every scored row (side data beside examples). The auto `cot` tags in
-- example_tags are materialised from these scores at a threshold; manual decisions live in revisions.
-- example_version is the examples.version that was scored, so re-runs only score new or edited rows.
CREATE TABLE cot_scores (
    example_id BIGINT PRIMARY KEY,
    score DOUBLE NOT NULL,
    signals JSON,
    example_version INTEGER NOT NULL,
    scored_at TIMESTAMP NOT NULL DEFAULT now()
);
