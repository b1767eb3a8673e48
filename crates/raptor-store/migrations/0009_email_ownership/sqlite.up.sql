-- 0009_email_ownership (sqlite, up): when each user proved they receive mail at their
-- address, and the instance's own keys (the key that derives decoy passkey ids for addresses
-- without an account, so sign-in options do not tell who has one).
ALTER TABLE users ADD COLUMN email_verified_at TEXT NULL;

-- An address is proven by a used sign-in link: accounts that recovered by email keep that proof.
UPDATE users SET email_verified_at = (
    SELECT MIN(t.used_at) FROM email_login_tokens t
    WHERE t.user_id = users.id AND t.used_at IS NOT NULL
);

CREATE TABLE instance_keys (
    name       TEXT        NOT NULL PRIMARY KEY,
    key_bytes  BLOB        NOT NULL,                                     -- random, made on first use
    created_at TEXT        NOT NULL
) WITHOUT ROWID;
