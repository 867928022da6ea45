-- carrel 0013 (sqlite): no index of sources by edition. Sources are only
-- ever found by their key (the primary key); the index served only the
-- ON DELETE CASCADE of an edition, and editions are never deleted (works
-- are merged and split by moving editions). A bulk import inserted into it
-- once per record.
DROP INDEX lib_sources_edition;
