-- Team review: campaigns that assign rows to annotators with overlap, each annotator's own responses
-- (append-only: the latest per annotator counts), and a log of sign-in attempts.
CREATE SEQUENCE seq_campaigns START 1;
CREATE SEQUENCE seq_responses START 1;

CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_campaigns'),
    name VARCHAR NOT NULL,
    filter JSON,
    annotators JSON NOT NULL,
    overlap INTEGER NOT NULL,
    guidelines VARCHAR,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    closed_at TIMESTAMP
);

CREATE TABLE campaign_assignments (
    campaign_id INTEGER NOT NULL,
    example_id BIGINT NOT NULL,
    annotator VARCHAR NOT NULL,
    PRIMARY KEY (campaign_id, example_id, annotator)
);

CREATE TABLE campaign_responses (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_responses'),
    campaign_id INTEGER NOT NULL,
    example_id BIGINT NOT NULL,
    annotator VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,
    reason VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE login_events (
    logged_at TIMESTAMP NOT NULL DEFAULT now(),
    username VARCHAR NOT NULL,
    ok BOOLEAN NOT NULL,
    detail VARCHAR
);
