-- The process that runs a job (pid, its start time in clock ticks since boot, host name): a job whose owner
-- process is gone (kill -9, power loss) is seen as dead wherever jobs are looked up, not only when the app starts.
ALTER TABLE jobs ADD COLUMN owner_pid INTEGER;
ALTER TABLE jobs ADD COLUMN owner_started BIGINT;
ALTER TABLE jobs ADD COLUMN owner_host VARCHAR;
