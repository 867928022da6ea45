-- carrel 0007 (sqlite): "my files". Files and folders keep their name in
-- lower case (written by carrel with Unicode case folding) for the owner's
-- case-insensitive search and name sort, the same on both backends.
-- Rows from before this migration are lower-cased here by SQLite's LOWER,
-- which folds ASCII letters only; a rename refolds a name completely.

ALTER TABLE files ADD COLUMN name_lower TEXT;
UPDATE files SET name_lower = LOWER(name);
CREATE INDEX files_owner_name ON files(owner, name_lower);
CREATE INDEX files_owner_size ON files(owner, size);
CREATE INDEX files_owner_created ON files(owner, created_at);

ALTER TABLE folders ADD COLUMN name_lower TEXT;
UPDATE folders SET name_lower = LOWER(name);
CREATE INDEX folders_owner ON folders(owner, name_lower);
