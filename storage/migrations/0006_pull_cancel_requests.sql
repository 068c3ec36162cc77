-- A cancel asked through a process that does not run the job: the owner sees the
-- request on its next look at the database, cancels the job and records the outcome.
ALTER TABLE pull_jobs ADD COLUMN cancel_requested TEXT;
