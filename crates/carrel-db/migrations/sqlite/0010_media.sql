-- carrel 0010 (sqlite): media probes.
-- What ffprobe found in a blob's bytes, once per content hash (the same
-- bytes uploaded twice are probed once). `info` is the streaming wing's
-- MediaInfo as JSON; `error` says why the bytes could not be read as media
-- (with the tail of ffprobe's stderr). Exactly one of them is set.

CREATE TABLE media_probes (
    blob_hash  TEXT PRIMARY KEY,
    info       TEXT,
    error      TEXT,
    probed_at  BIGINT NOT NULL
);
