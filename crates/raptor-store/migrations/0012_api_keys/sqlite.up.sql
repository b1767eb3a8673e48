-- 0012_api_keys (sqlite, up): key pairs a user makes for bots on the /v2 (Alpaca-compatible)
-- API. The key id is public; of the secret only its SHA-256 is kept (secrets are random, so a
-- fast hash suffices). A revoked key stays for the audit trail.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER     NOT NULL,
    key_id       TEXT        NOT NULL,                                   -- sent as APCA-API-KEY-ID
    secret_hash  BLOB        NOT NULL,                                   -- SHA-256 of APCA-API-SECRET-KEY
    name         TEXT        NOT NULL,
    created_at   TEXT        NOT NULL,
    last_used_at TEXT        NULL,                                       -- to the minute
    revoked_at   TEXT        NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ux_api_keys_key_id ON api_keys (key_id);
CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);
