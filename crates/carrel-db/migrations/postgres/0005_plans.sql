-- carrel 0005 (postgres): plans. Files remember when they were last downloaded
-- (retention); webhook events are remembered so a replay is not applied twice.

ALTER TABLE files ADD COLUMN last_access BIGINT;  -- NULL: never downloaded (created_at counts)
CREATE INDEX files_owner_access ON files(owner, last_access);

CREATE TABLE webhook_events (
    id           TEXT PRIMARY KEY,
    received_at  BIGINT NOT NULL
);
