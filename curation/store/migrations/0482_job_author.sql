-- Who started each job (the signed-in user, or the author setting with login off).
ALTER TABLE jobs ADD COLUMN author VARCHAR;
