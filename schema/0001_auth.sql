-- The Auth.js tables. Dates are integer Unix milliseconds, except
-- accounts.expires_at, which stays integer seconds as Auth.js sends it.
-- Secrets are never stored in the clear: sessions and verification tokens
-- are keyed BLAKE2b hashes of the token, OAuth tokens are XChaCha20-Poly1305
-- ciphertexts (see docs/SECURITY.md). `extra` keeps every field Auth.js or a
-- provider sends beyond the known ones, as a JSON object.

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT,
    email          TEXT UNIQUE,
    email_verified INTEGER,
    image          TEXT,
    extra          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra))
) STRICT;

CREATE TABLE accounts (
    id                  INTEGER PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type                TEXT NOT NULL,
    provider            TEXT NOT NULL,
    provider_account_id TEXT NOT NULL,
    access_token        BLOB,
    refresh_token       BLOB,
    id_token            BLOB,
    expires_at          INTEGER,
    token_type          TEXT,
    scope               TEXT,
    session_state       TEXT,
    extra               TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
    UNIQUE (provider, provider_account_id)
) STRICT;
CREATE INDEX accounts_user_id ON accounts (user_id);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires);

CREATE TABLE verification_tokens (
    identifier TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    expires    INTEGER NOT NULL,
    PRIMARY KEY (identifier, token_hash)
) STRICT, WITHOUT ROWID;
CREATE INDEX verification_tokens_expires ON verification_tokens (expires);

CREATE TABLE authenticators (
    credential_id          TEXT PRIMARY KEY NOT NULL,
    user_id                TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_account_id    TEXT NOT NULL,
    credential_public_key  TEXT NOT NULL,
    counter                INTEGER NOT NULL,
    credential_device_type TEXT NOT NULL,
    credential_backed_up   INTEGER NOT NULL CHECK (credential_backed_up IN (0, 1)),
    transports             TEXT
) STRICT;
CREATE INDEX authenticators_user_id ON authenticators (user_id);
