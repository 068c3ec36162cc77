-- Ollama pull jobs run by the worker pool.
CREATE TABLE pull_jobs (
    id           TEXT PRIMARY KEY,
    model        TEXT NOT NULL,
    status       TEXT NOT NULL
                 CHECK (status IN ('queued', 'downloading', 'verifying', 'completed',
                                   'failed', 'cancelled')),
    digest       TEXT,
    total        INTEGER NOT NULL DEFAULT 0,
    completed    INTEGER NOT NULL DEFAULT 0,
    message      TEXT NOT NULL DEFAULT '',
    error        TEXT,
    created_at   TEXT NOT NULL,
    finished_at  TEXT
);
-- One active job per model.
CREATE UNIQUE INDEX pull_jobs_one_active_per_model ON pull_jobs(model)
    WHERE status IN ('queued', 'downloading', 'verifying');
CREATE INDEX pull_jobs_by_created ON pull_jobs(created_at);
