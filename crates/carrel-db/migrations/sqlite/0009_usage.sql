-- carrel 0009 (sqlite): usage.
-- Bytes served per UTC day (day = unix seconds / 86400), for the admin's usage
-- page. Each server adds what its download meter counted every few seconds.

CREATE TABLE traffic_days (
    day        BIGINT PRIMARY KEY,
    bytes      BIGINT NOT NULL DEFAULT 0,
    downloads  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX files_created ON files(created_at);
