-- Generation at scale (issue 14): per-run checkpoints and every answered request (resume without re-sending),
-- judge rubrics and one rating per row and rubric (side data beside the examples).
CREATE TABLE generation_checkpoints (
    run_id BIGINT PRIMARY KEY,
    state JSON NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE generation_responses (
    run_id BIGINT NOT NULL,
    request_key VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    finish_reason VARCHAR NOT NULL,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, request_key)
);

CREATE TABLE rating_rubrics (
    name VARCHAR PRIMARY KEY,
    prompt VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE example_ratings (
    example_id BIGINT NOT NULL,
    rubric VARCHAR NOT NULL,
    score DOUBLE,
    reason VARCHAR,
    model VARCHAR,
    job_id BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    PRIMARY KEY (example_id, rubric)
);
