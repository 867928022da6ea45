-- carrel 0003 (postgres): the library. Work → edition → file. A work groups the
-- editions of one book (by normalized title and first author, or by hand); an
-- edition is one publication with its own identifiers; a library file is a
-- hosted carrel file that is a format of an edition. Editions without files
-- (metadata from dumps) are first-class. Lists (authors, subjects) are JSON
-- text: they are read whole and searched through the index, never queried.

CREATE TABLE lib_works (
    id            BIGSERIAL PRIMARY KEY,
    work_key      TEXT NOT NULL,          -- folded title | first author's surname
    title         TEXT NOT NULL,
    authors       TEXT NOT NULL,          -- JSON [{"name","sort"}]
    subjects      TEXT NOT NULL,          -- JSON ["…"]
    series        TEXT,
    series_index  DOUBLE PRECISION,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX lib_works_key ON lib_works(work_key);

CREATE TABLE lib_editions (
    id             BIGSERIAL PRIMARY KEY,
    work_id        BIGINT NOT NULL REFERENCES lib_works(id),
    kind           TEXT NOT NULL,         -- book | article | comic
    title          TEXT NOT NULL,
    subtitle       TEXT,
    authors        TEXT NOT NULL,         -- JSON [{"name","sort"}]
    author_aliases TEXT NOT NULL,         -- JSON ["…"]
    subjects       TEXT NOT NULL,         -- JSON ["…"]
    series         TEXT,
    series_index   DOUBLE PRECISION,
    publisher      TEXT,
    year           INTEGER,
    language       TEXT,                  -- BCP 47
    description    TEXT,
    match_key      TEXT,                  -- articles: work key | year (dedup without identifiers)
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX lib_editions_work ON lib_editions(work_id);
CREATE INDEX lib_editions_match ON lib_editions(match_key) WHERE match_key IS NOT NULL;

-- Every source an edition came from (gutenberg:1342, file:<blake3>, …):
-- importing a source again updates its edition.
CREATE TABLE lib_sources (
    source_key  TEXT PRIMARY KEY,
    edition_id  BIGINT NOT NULL REFERENCES lib_editions(id) ON DELETE CASCADE
);
CREATE INDEX lib_sources_edition ON lib_sources(edition_id);

CREATE TABLE lib_identifiers (
    scheme      TEXT NOT NULL,            -- isbn | doi | issn | arxiv | ol | gutenberg
    value       TEXT NOT NULL,            -- normalized
    edition_id  BIGINT NOT NULL REFERENCES lib_editions(id) ON DELETE CASCADE,
    PRIMARY KEY (value, scheme, edition_id)    -- value first: lookups by value
);
CREATE INDEX lib_identifiers_edition ON lib_identifiers(edition_id);

CREATE TABLE lib_files (
    file_id     TEXT PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    edition_id  BIGINT NOT NULL REFERENCES lib_editions(id) ON DELETE CASCADE,
    format      TEXT NOT NULL,            -- epub | pdf | mobi | azw3 | fb2 | cbz
    pages       INTEGER,
    encrypted   BOOLEAN NOT NULL,
    problems    TEXT NOT NULL,            -- JSON [{"code","message"}]
    created_at  BIGINT NOT NULL
);
CREATE INDEX lib_files_edition ON lib_files(edition_id);

CREATE TABLE lib_covers (
    edition_id  BIGINT PRIMARY KEY REFERENCES lib_editions(id) ON DELETE CASCADE,
    small       BYTEA NOT NULL,          -- JPEG, fits 160×240
    large       BYTEA NOT NULL,          -- JPEG, fits 480×720
    updated_at  BIGINT NOT NULL
);

-- `carrel library add` remembers what it scanned: unchanged files are skipped.
CREATE TABLE lib_scanned (
    path        TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    mtime       BIGINT NOT NULL,
    blob_hash   TEXT NOT NULL,
    scanned_at  BIGINT NOT NULL
);

-- Where an import stopped, so a rerun resumes (keyed by source file).
CREATE TABLE lib_checkpoints (
    name        TEXT PRIMARY KEY,
    position    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Records that dumps refer to by key (Open Library authors and works), kept
-- so editions imported later can name their authors and subjects.
CREATE TABLE lib_authority (
    key         TEXT PRIMARY KEY,         -- e.g. /authors/OL23919A, /works/OL45804W
    name        TEXT NOT NULL,            -- an author's name, a work's title
    data        TEXT NOT NULL             -- JSON: what else the record says
);
