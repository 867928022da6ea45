-- carrel 0004 (sqlite): sources and identifiers are found only by their
-- primary keys, so they are stored in them (WITHOUT ROWID): one B-tree per
-- table instead of a table plus its key index, one insert fewer per row of a
-- bulk import. (PostgreSQL keeps its heap tables: nothing to change there.)

CREATE TABLE lib_sources_new (
    source_key  TEXT PRIMARY KEY,
    edition_id  BIGINT NOT NULL REFERENCES lib_editions(id) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO lib_sources_new (source_key, edition_id) SELECT source_key, edition_id FROM lib_sources;
DROP TABLE lib_sources;
ALTER TABLE lib_sources_new RENAME TO lib_sources;
CREATE INDEX lib_sources_edition ON lib_sources(edition_id);

CREATE TABLE lib_identifiers_new (
    scheme      TEXT NOT NULL,
    value       TEXT NOT NULL,
    edition_id  BIGINT NOT NULL REFERENCES lib_editions(id) ON DELETE CASCADE,
    PRIMARY KEY (value, scheme, edition_id)
) WITHOUT ROWID;
INSERT INTO lib_identifiers_new (scheme, value, edition_id) SELECT scheme, value, edition_id FROM lib_identifiers;
DROP TABLE lib_identifiers;
ALTER TABLE lib_identifiers_new RENAME TO lib_identifiers;
CREATE INDEX lib_identifiers_edition ON lib_identifiers(edition_id);
