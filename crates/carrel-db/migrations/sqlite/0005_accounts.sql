-- carrel 0005 (sqlite): accounts, sessions, API tokens, password resets, invitations.
-- Every secret is stored as its SHA-256 digest (SecretHash), never as itself.
-- Times are unix seconds.

CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,       -- trimmed, lower-cased
    password_hash  TEXT NOT NULL,              -- argon2id PHC string
    role           TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    plan           TEXT NOT NULL DEFAULT 'free',
    suspended_at   BIGINT,
    created_at     BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,               -- names separated by spaces
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX api_tokens_account ON api_tokens(account_id);

CREATE TABLE password_resets (
    token_hash  TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX password_resets_account ON password_resets(account_id);

CREATE TABLE invitations (
    token_hash  TEXT PRIMARY KEY,
    created_by  TEXT REFERENCES accounts(id) ON DELETE SET NULL,
    expires_at  BIGINT NOT NULL,
    used_by     TEXT REFERENCES accounts(id) ON DELETE SET NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);

CREATE INDEX files_owner ON files(owner);
