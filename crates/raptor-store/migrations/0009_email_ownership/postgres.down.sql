-- 0009_email_ownership (postgres, down).
DROP TABLE instance_keys;
ALTER TABLE users DROP COLUMN email_verified_at;
