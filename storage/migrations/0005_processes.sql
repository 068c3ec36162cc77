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
-- Leases: one holder at a time, renewed before ``expires`` (Unix seconds). The
-- ``proxy-supervisor`` lease names the process that supervises the proxy processes.
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    expires  REAL NOT NULL
);
-- What each proxy process should be doing, as last asked through any process; the
-- lease holder acts on a request newer than the one it ``applied`` and notes the outcome.
CREATE TABLE proxy_wishes (
    name       TEXT PRIMARY KEY,
    running    INTEGER NOT NULL,
    requested  REAL NOT NULL,
    applied    REAL,
    outcome    TEXT
);
-- The supervising process's view of its proxy processes, for the other processes.
CREATE TABLE proxy_snapshot (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    holder    TEXT NOT NULL,
    body      BLOB NOT NULL,
    saved_at  REAL NOT NULL
);
