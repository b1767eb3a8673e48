-- 0007_permissions (sqlite, down). The seeded roles stay: grants may reference them, and the
-- earlier revisions' code creates the same rows on first grant.
ALTER TABLE sessions DROP COLUMN authenticated_at;
ALTER TABLE user_roles DROP COLUMN reason;
ALTER TABLE user_roles DROP COLUMN expires_at;
DROP TABLE role_permissions;
DROP TABLE permissions;
