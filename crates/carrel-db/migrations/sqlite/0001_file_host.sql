-- carrel 0001 (sqlite): blobs, uploads, files, folders, share links.
-- Times are unix seconds (BIGINT) on both backends.

CREATE TABLE blobs (
    hash        TEXT PRIMARY KEY,          -- BLAKE3, 64 lower-case hex digits
    size        BIGINT NOT NULL,
    refcount    BIGINT NOT NULL CHECK (refcount >= 0),
    created_at  BIGINT NOT NULL
);

CREATE TABLE folders (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    owner              TEXT,               -- account id; NULL for anonymous
    manage_token_hash  TEXT,
    created_at         BIGINT NOT NULL
);

CREATE TABLE files (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    media_type         TEXT NOT NULL,
    size               BIGINT NOT NULL,
    blob_hash          TEXT NOT NULL REFERENCES blobs(hash),
    owner              TEXT,               -- account id; NULL for anonymous
    folder_id          TEXT REFERENCES folders(id) ON DELETE SET NULL,
    manage_token_hash  TEXT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX files_folder ON files(folder_id);
CREATE INDEX files_blob ON files(blob_hash);

CREATE TABLE shares (
    id               TEXT PRIMARY KEY,     -- >= 128 random bits, URL-safe
    file_id          TEXT REFERENCES files(id) ON DELETE CASCADE,
    folder_id        TEXT REFERENCES folders(id) ON DELETE CASCADE,
    expires_at       BIGINT,
    password_hash    TEXT,                 -- argon2id PHC string
    max_downloads    BIGINT,
    download_count   BIGINT NOT NULL DEFAULT 0,
    disabled_reason  TEXT,
    created_at       BIGINT NOT NULL,
    CHECK ((file_id IS NULL) <> (folder_id IS NULL))
);
CREATE INDEX shares_file ON shares(file_id);
CREATE INDEX shares_folder ON shares(folder_id);

CREATE TABLE uploads (
    id                   TEXT PRIMARY KEY,
    length               BIGINT,           -- NULL while the length is deferred
    "offset"             BIGINT NOT NULL DEFAULT 0,
    metadata             TEXT NOT NULL,    -- Upload-Metadata, header form
    kind                 TEXT NOT NULL CHECK (kind IN ('single', 'partial', 'final')),
    parts                TEXT,             -- final uploads: space-separated part ids
    owner                TEXT,
    client_ip            TEXT,
    file_name            TEXT NOT NULL,
    media_type           TEXT NOT NULL,
    share_id             TEXT,             -- the link made when the upload completes
    share_expires_at     BIGINT,
    share_password_hash  TEXT,
    share_max_downloads  BIGINT,
    manage_token_hash    TEXT,
    completed            INTEGER NOT NULL DEFAULT 0,
    file_id              TEXT,             -- set when complete
    expires_at           BIGINT NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE INDEX uploads_expiry ON uploads(expires_at);
