-- carrel 0011 (postgres): transcode progress.
-- How far the streaming wing's transcode of a source blob has come (0 to
-- 1, from ffmpeg's -progress), while it runs: the share page shows it
-- whichever node runs the job. The row goes when the transcode ends.

CREATE TABLE media_progress (
    source_hash  TEXT PRIMARY KEY,
    done         DOUBLE PRECISION NOT NULL,
    updated_at   BIGINT NOT NULL
);
