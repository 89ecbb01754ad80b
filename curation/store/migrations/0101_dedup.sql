-- Dedup (issue 4): embedding cache, dedup runs with their pairs and clusters (reviewable after a restart),
-- and contamination matches against an evaluation set that itself is never stored.
CREATE SEQUENCE seq_dedup_runs START 1;

CREATE TABLE embedding_cache (
    model VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    text_hash VARCHAR NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    PRIMARY KEY (model, scope, text_hash)
);

CREATE TABLE dedup_runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_dedup_runs'),
    method VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    threshold DOUBLE NOT NULL,
    rule VARCHAR NOT NULL,
    params JSON,
    job_id BIGINT,
    row_count INTEGER NOT NULL DEFAULT 0,
    pair_count INTEGER NOT NULL DEFAULT 0,
    cluster_count INTEGER NOT NULL DEFAULT 0,
    applied_action BIGINT,
    author VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE dedup_pairs (
    run_id BIGINT NOT NULL,
    a_id BIGINT NOT NULL,
    b_id BIGINT NOT NULL,
    score DOUBLE NOT NULL
);

CREATE TABLE dedup_members (
    run_id BIGINT NOT NULL,
    cluster INTEGER NOT NULL,
    example_id BIGINT NOT NULL,
    keep BOOLEAN NOT NULL,
    split BOOLEAN NOT NULL DEFAULT false,
    accepted BOOLEAN NOT NULL DEFAULT false,
    blocked_by BIGINT,
    score DOUBLE
);

CREATE TABLE contamination_matches (
    run_id BIGINT NOT NULL,
    example_id BIGINT NOT NULL,
    eval_row INTEGER NOT NULL,
    score DOUBLE NOT NULL
);
