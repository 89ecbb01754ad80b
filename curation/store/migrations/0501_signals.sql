-- One signals store for every curation operation (issue 24): a score and/or label per (row, signal name,
-- variant), with its evidence (JSON), the examples.version it was computed on and the run that wrote it.
-- The bespoke score tables (CoT scores, judge ratings per rubric, contamination matches per run) move here
-- with every score kept, then go.
CREATE SEQUENCE seq_signal_runs START 1;

CREATE TABLE signal_runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_signal_runs'),
    name VARCHAR NOT NULL,
    variant VARCHAR NOT NULL DEFAULT '',
    params JSON,
    counts JSON,
    job_id BIGINT,
    author VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    finished_at TIMESTAMP
);

CREATE TABLE signals (
    example_id BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    variant VARCHAR NOT NULL DEFAULT '',
    score DOUBLE,
    label VARCHAR,
    evidence JSON,
    example_version INTEGER NOT NULL,
    run_id BIGINT,
    scored_at TIMESTAMP NOT NULL DEFAULT now(),
    PRIMARY KEY (example_id, name, variant)
);

-- CoT detector scores: one run, evidence {"signals": [...fired signals...]}.
INSERT INTO signal_runs (name, variant, params, counts, created_at, finished_at)
SELECT 'cot', '', '{"migrated_from": "cot_scores"}', json_object('scored', count(*)), min(scored_at), max(scored_at)
FROM cot_scores HAVING count(*) > 0;

INSERT INTO signals (example_id, name, variant, score, label, evidence, example_version, run_id, scored_at)
SELECT c.example_id, 'cot', '', c.score, NULL, json_object('signals', c.signals), c.example_version,
       (SELECT max(id) FROM signal_runs WHERE name = 'cot'), c.scored_at
FROM cot_scores c;

-- Judge ratings: one run per rubric (the variant), evidence {"reason", "model", "job_id"}. The old table kept no
-- row version, so a rating counts as made on the row's current version (it is not redone unless asked).
INSERT INTO signal_runs (name, variant, params, counts, created_at, finished_at)
SELECT 'judge', rubric, json_object('rubric', rubric, 'migrated_from', 'example_ratings'),
       json_object('rated', count(score), 'unusable', count(*) - count(score)), min(created_at), max(created_at)
FROM example_ratings GROUP BY rubric ORDER BY rubric;

INSERT INTO signals (example_id, name, variant, score, label, evidence, example_version, run_id, scored_at)
SELECT r.example_id, 'judge', r.rubric, r.score, NULL,
       json_object('reason', r.reason, 'model', r.model, 'job_id', r.job_id), coalesce(e.version, 1),
       (SELECT max(id) FROM signal_runs s WHERE s.name = 'judge' AND s.variant = r.rubric), r.created_at
FROM example_ratings r LEFT JOIN examples e ON e.id = r.example_id;

-- Contamination matches: the variant is the contamination run (a dedup run) that found them; the score is the
-- best match, evidence keeps every match {"eval_file", "matches": [{"eval_row", "score"}, ...]}.
INSERT INTO signal_runs (name, variant, params, counts, job_id, author, created_at, finished_at)
SELECT 'contamination', CAST(d.id AS VARCHAR), d.params,
       json_object('matches', (SELECT count(*) FROM contamination_matches m WHERE m.run_id = d.id)),
       d.job_id, d.author, d.created_at, d.created_at
FROM dedup_runs d WHERE d.method = 'contamination' ORDER BY d.id;

INSERT INTO signals (example_id, name, variant, score, label, evidence, example_version, run_id, scored_at)
SELECT m.example_id, 'contamination', CAST(m.run_id AS VARCHAR), max(m.score), 'contaminated',
       json_object('eval_file', any_value(json_extract_string(d.params, '$.eval_file')),
                   'matches', list(json_object('eval_row', m.eval_row, 'score', m.score) ORDER BY m.score DESC, m.eval_row)),
       coalesce(any_value(e.version), 1),
       (SELECT max(id) FROM signal_runs s WHERE s.name = 'contamination' AND s.variant = CAST(m.run_id AS VARCHAR)),
       any_value(d.created_at)
FROM contamination_matches m JOIN dedup_runs d ON d.id = m.run_id LEFT JOIN examples e ON e.id = m.example_id
GROUP BY m.example_id, m.run_id;

DROP TABLE cot_scores;
DROP TABLE example_ratings;
DROP TABLE contamination_matches;
