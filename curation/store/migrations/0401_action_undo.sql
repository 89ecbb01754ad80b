-- Undo, redo and history (issue 11): a tag revision keeps the tag's source, score and detail before and after
-- (JSON text {"source", "score", "detail"}) so undo restores it exactly; for an absent tag, new_meta says whether
-- its absence is a manual decision. Earlier manual tag revisions are marked manual.
ALTER TABLE revisions ADD COLUMN old_meta VARCHAR;
ALTER TABLE revisions ADD COLUMN new_meta VARCHAR;
UPDATE revisions SET new_meta = '{"source": "manual"}'
WHERE field LIKE 'tag:%' AND action_id IN (SELECT id FROM actions WHERE kind <> 'undo');
