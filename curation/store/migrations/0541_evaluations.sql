-- Evaluation results (issue 26): one row per model scored on an item set, with its per-item results, so the
-- Fine-tune page and `eval` CLI can show accuracy with intervals and paired differences later.
CREATE SEQUENCE evaluation_id_seq START 1;

CREATE TABLE evaluations (
    id BIGINT PRIMARY KEY DEFAULT nextval('evaluation_id_seq'),
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    author VARCHAR,
    model VARCHAR NOT NULL,
    model_path VARCHAR,
    item_set VARCHAR NOT NULL,
    item_set_hash VARCHAR NOT NULL,
    experiment VARCHAR,
    n BIGINT NOT NULL,
    accuracy DOUBLE NOT NULL,
    ci_lo DOUBLE NOT NULL,
    ci_hi DOUBLE NOT NULL,
    accuracy_norm DOUBLE,
    items JSON NOT NULL
);

CREATE INDEX evaluations_experiment ON evaluations (experiment);
