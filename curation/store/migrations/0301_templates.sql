-- Templates and generation (issue 3): the task registry, instruction templates per task, and the candidates
-- a Self-Instruct run dropped, each with its reason (nothing a filter removes is lost).
CREATE TABLE tasks (
    name VARCHAR PRIMARY KEY,
    cluster VARCHAR NOT NULL,
    input_fields JSON NOT NULL,
    answer_field VARCHAR NOT NULL,
    options JSON,
    rationale_field VARCHAR,
    description VARCHAR,
    builtin BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE templates (
    id VARCHAR PRIMARY KEY,
    task VARCHAR NOT NULL,
    input_pattern VARCHAR NOT NULL,
    target_pattern VARCHAR NOT NULL,
    author VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    updated_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE SEQUENCE seq_generation_drops START 1;

CREATE TABLE generation_drops (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_generation_drops'),
    job_id BIGINT NOT NULL,
    stage VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    instruction VARCHAR NOT NULL,
    input VARCHAR,
    output VARCHAR,
    detail JSON,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);
