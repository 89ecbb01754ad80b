-- Foundation schema: sources, examples (raw text kept beside current text), tags, actions +
-- revisions (every change), jobs. Later features add their own numbered files:
-- 01xx dedup, 02xx cot/mixture, 03xx templates/generation, 04xx fine-tune.
CREATE SEQUENCE seq_sources START 1;
CREATE SEQUENCE seq_examples START 1;
CREATE SEQUENCE seq_actions START 1;
CREATE SEQUENCE seq_revisions START 1;
CREATE SEQUENCE seq_jobs START 1;

CREATE TABLE sources (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_sources'),
    name VARCHAR NOT NULL,
    file_name VARCHAR,
    format VARCHAR NOT NULL,
    sha256 VARCHAR,
    row_count INTEGER NOT NULL DEFAULT 0,
    options JSON,
    author VARCHAR,
    imported_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE examples (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_examples'),
    source_id INTEGER NOT NULL,
    source_row INTEGER NOT NULL,
    origin VARCHAR NOT NULL,
    instruction VARCHAR NOT NULL,
    input VARCHAR NOT NULL DEFAULT '',
    output VARCHAR NOT NULL DEFAULT '',
    orig_instruction VARCHAR NOT NULL,
    orig_input VARCHAR NOT NULL DEFAULT '',
    orig_output VARCHAR NOT NULL DEFAULT '',
    messages JSON,
    task VARCHAR,
    task_cluster VARCHAR,
    template_id VARCHAR,
    format VARCHAR,
    is_classification BOOLEAN,
    status VARCHAR NOT NULL DEFAULT 'pending',
    status_reason VARCHAR,
    provenance JSON,
    meta JSON,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    updated_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE example_tags (
    example_id BIGINT NOT NULL,
    tag VARCHAR NOT NULL,
    source VARCHAR NOT NULL DEFAULT 'manual',
    score DOUBLE,
    detail JSON,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE actions (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_actions'),
    kind VARCHAR NOT NULL,
    author VARCHAR NOT NULL,
    description VARCHAR,
    params JSON,
    row_count INTEGER NOT NULL DEFAULT 0,
    undone_by BIGINT,
    undoes BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE revisions (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_revisions'),
    action_id BIGINT NOT NULL,
    example_id BIGINT NOT NULL,
    field VARCHAR NOT NULL,
    old_value VARCHAR,
    new_value VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_jobs'),
    kind VARCHAR NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'queued',
    progress DOUBLE NOT NULL DEFAULT 0,
    message VARCHAR,
    error VARCHAR,
    params JSON,
    result JSON,
    pid INTEGER,
    run_dir VARCHAR,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    started_at TIMESTAMP,
    finished_at TIMESTAMP
);
