-- 0007_permissions (postgres, up): permissions as the unit of authorisation, roles as sets of
-- them, grants that expire and say why, and the time a session last proved a passkey.
CREATE TABLE permissions (
    name        TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL
);

-- Which permissions each role carries; operators may change these rows.
CREATE TABLE role_permissions (
    role_id    BIGINT NOT NULL,
    permission TEXT   NOT NULL,
    PRIMARY KEY (role_id, permission),
    FOREIGN KEY (role_id) REFERENCES roles (id) ON DELETE CASCADE,
    FOREIGN KEY (permission) REFERENCES permissions (name) ON DELETE CASCADE
);
CREATE INDEX ix_role_permissions_permission ON role_permissions (permission);

INSERT INTO permissions (name, description) VALUES
    ('customers.read', 'Search customers and read their details.'),
    ('customers.note', 'Add internal notes to a customer.'),
    ('customers.suspend', 'Suspend or reinstate a customer and revoke their sessions.'),
    ('support.read', 'Read the support ticket queue.'),
    ('support.reply', 'Reply to, assign, close and link support tickets.'),
    ('traces.read', 'Read workflow traces.'),
    ('jobs.read', 'Read the background job queue.'),
    ('billing.read', 'Read vendor billing snapshots and alert thresholds.'),
    ('billing.manage', 'Record billing snapshots and set alert thresholds.'),
    ('audit.read', 'Read the audit log.'),
    ('roles.grant', 'Grant and revoke roles (only roles whose permissions the granter holds).');

-- The three roles the code names; earlier revisions created them on first grant.
INSERT INTO roles (name, description, created_at) VALUES
    ('customer', 'A trader using the app.', '2026-12-02 00:00:00+00'),
    ('support', 'Support staff.', '2026-12-02 00:00:00+00'),
    ('admin', 'Administrators.', '2026-12-02 00:00:00+00')
ON CONFLICT (name) DO NOTHING;
INSERT INTO role_permissions (role_id, permission)
    SELECT r.id, p.name FROM roles r JOIN permissions p ON r.name = 'admin'
    UNION ALL
    SELECT r.id, p.name FROM roles r JOIN permissions p ON r.name = 'support'
        AND p.name IN ('customers.read', 'support.read', 'support.reply', 'traces.read');

-- Grants may end, and say why they were made.
ALTER TABLE user_roles
    ADD COLUMN expires_at TIMESTAMPTZ NULL,
    ADD COLUMN reason TEXT NULL;

-- When the session last proved a passkey (sign-in or step-up); NULL for a session opened by
-- an email link or a backup code until a passkey proves it. Earlier passkey sessions proved one
-- when they began.
ALTER TABLE sessions ADD COLUMN authenticated_at TIMESTAMPTZ NULL;
UPDATE sessions SET authenticated_at = created_at WHERE auth_method = 'passkey';
