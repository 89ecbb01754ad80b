-- Versioned task registry and templates (issue 11): edits and deletes are new versions recorded as revisions
-- under an action (undoable); a deleted task or template is only marked deleted. Templated rows record the
-- template version that produced them (NULL for rows made before versions existed).
ALTER TABLE templates ADD COLUMN version INTEGER DEFAULT 1;
ALTER TABLE templates ADD COLUMN deleted BOOLEAN DEFAULT false;
ALTER TABLE tasks ADD COLUMN version INTEGER DEFAULT 1;
ALTER TABLE tasks ADD COLUMN deleted BOOLEAN DEFAULT false;
ALTER TABLE examples ADD COLUMN template_version INTEGER;
CREATE SEQUENCE seq_registry_revisions START 1;
CREATE TABLE registry_revisions (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_registry_revisions'),
    action_id BIGINT,
    kind VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    old_state JSON,
    new_state JSON,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);
INSERT INTO registry_revisions (kind, key, version, new_state)
SELECT 'template', id, 1, json_object('task', task, 'input_pattern', input_pattern, 'target_pattern', target_pattern)
FROM templates;
