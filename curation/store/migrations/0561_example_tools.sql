-- A conversation's tool schemas (OpenAI `tools` / LLaMA-Factory's ShareGPT `tools` column), a JSON list; NULL for
-- rows without tools. Edited like `messages`, through revisions.
ALTER TABLE examples ADD COLUMN tools JSON;
