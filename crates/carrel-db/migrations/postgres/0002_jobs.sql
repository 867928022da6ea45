-- carrel 0002 (postgres): a durable job queue. Work that must happen after a
-- change is committed (deleting a blob's bytes after its last reference) is
-- queued in the same transaction as the change, so a crash never loses it.

CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,             -- e.g. 'blob.delete'
    payload       TEXT NOT NULL,             -- kind-specific (a blob hash, JSON, …)
    run_after     BIGINT NOT NULL,           -- not before this time
    locked_until  BIGINT,                    -- a worker's lease; NULL when free
    attempts      BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs(run_after);
