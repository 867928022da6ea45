-- carrel 0010 (postgres): media renditions.
-- What the streaming wing made of a source blob for browsers and HLS
-- players: one row per source content hash and rendition name (the same
-- bytes uploaded twice are remuxed once). `blob_hash` is the rendition's
-- own file (one fragmented MP4) in the blob store; `playlist` is its HLS
-- media playlist (byte ranges into that file); `bandwidth`, `resolution`
-- and `codecs` are for the master playlist. A rendition that could not be
-- made (the file's fault) has `error` (with the tail of ffmpeg's stderr)
-- and no blob; exactly one of `blob_hash` and `error` is set.

CREATE TABLE media_renditions (
    source_hash  TEXT NOT NULL,
    name         TEXT NOT NULL,
    blob_hash    TEXT,
    error        TEXT,
    size         BIGINT NOT NULL DEFAULT 0,
    playlist     TEXT NOT NULL DEFAULT '',
    bandwidth    BIGINT NOT NULL DEFAULT 0,
    resolution   TEXT,
    codecs       TEXT NOT NULL DEFAULT '',
    made_at      BIGINT NOT NULL,
    PRIMARY KEY (source_hash, name)
);
CREATE INDEX media_renditions_blob ON media_renditions (blob_hash);
