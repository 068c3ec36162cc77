-- When a worker picked a pull job up, and when its row was last written: the job view
-- shows how long a pull has run, and a job found active at start-up says how stale it is.
ALTER TABLE pull_jobs ADD COLUMN started_at TEXT;
ALTER TABLE pull_jobs ADD COLUMN updated_at TEXT;
CREATE INDEX pull_jobs_by_model ON pull_jobs(model, created_at);
