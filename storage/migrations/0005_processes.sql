-- Several modeldeck processes may share this database. Each one has a row here and
-- renews its heartbeat every few seconds; a process that stopped beating is gone.
CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    heartbeat   REAL NOT NULL
);
-- The process that runs a pull job: when it is gone, any other fails the job.
ALTER TABLE pull_jobs ADD COLUMN owner TEXT;
CREATE INDEX pull_jobs_by_status ON pull_jobs(status);
