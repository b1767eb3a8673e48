-- 0009_email_ownership (postgres, up): when each user proved they receive mail at their
-- address, and the instance's own keys (the key that derives decoy passkey ids for addresses
-- without an account, so sign-in options do not tell who has one).
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ NULL;

-- No account counts as verified yet: a sign-in link used before this revision did not remove
-- the passkeys of whoever opened the account, so it proves nothing about who holds it now.

CREATE TABLE instance_keys (
    name       TEXT        NOT NULL PRIMARY KEY,
    key_bytes  BYTEA       NOT NULL,                                     -- random, made on first use
    created_at TIMESTAMPTZ NOT NULL
);
