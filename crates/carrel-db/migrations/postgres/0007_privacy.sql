-- carrel 0007 (postgres): privacy.
-- A deleted account stays as a tombstone (its id, role and dates; its
-- address replaced, its password hash and credentials gone), so audit and
-- takedown records that name it stay valid; deleted_at marks it.
-- Anonymous uploads are claimed by their management token: files are found
-- by its digest. Client addresses are kept only while an upload is
-- unfinished (the per-address limit), and never past hosting.ip_retention_days.

ALTER TABLE accounts ADD COLUMN deleted_at BIGINT;
CREATE INDEX files_manage_token ON files(manage_token_hash);
UPDATE uploads SET client_ip = NULL WHERE completed = TRUE;
