-- 0001_raptor_baseline (SQLite 3, up): the whole Raptor schema, 36 tables.
-- Keep in step with the other dialect's file: same tables, columns (order, NULL-ness), keys and indexes.

-- Types: timestamps and JSON are TEXT (UTC RFC 3339 written by the application), money and
-- exact quantities are TEXT (never NUMERIC affinity, which would turn '100.10' into a float).
-- Postgres holds money as NUMERIC(28,8): the application quantizes to 8 places before writing.

-- ============================================================ auth

-- One row per person; email is stored lower-cased by the application.
CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    email               TEXT    NOT NULL,                                -- lower-cased by the application
    display_name        TEXT    NOT NULL,
    user_handle         BLOB    NOT NULL,                                -- random WebAuthn user.id (never the row id)
    status              TEXT    NOT NULL DEFAULT 'active',
    email_undeliverable BOOLEAN NOT NULL DEFAULT FALSE,                  -- set from Postmark bounces/complaints
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    last_login_at       TEXT    NULL,
    CONSTRAINT ck_users_status CHECK (status IN ('active', 'suspended'))
);
CREATE UNIQUE INDEX ux_users_email ON users (email);
CREATE UNIQUE INDEX ux_users_user_handle ON users (user_handle);

-- Registered passkeys; counters and backup flags updated after every login.
CREATE TABLE webauthn_credentials (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    credential_id   BLOB    NOT NULL,                                    -- raw credential id bytes
    passkey         TEXT    NOT NULL,                                    -- serialized webauthn-rs Passkey
    sign_count      INTEGER NOT NULL DEFAULT 0,
    backup_eligible BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state    BOOLEAN NOT NULL DEFAULT FALSE,
    aaguid          BLOB    NULL,                                        -- authenticator model, for display
    name            TEXT    NOT NULL,                                    -- user-chosen label
    created_at      TEXT    NOT NULL,
    last_used_at    TEXT    NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ux_webauthn_credentials_credential_id ON webauthn_credentials (credential_id);
CREATE INDEX ix_webauthn_credentials_user_id ON webauthn_credentials (user_id);

-- Pending passkey ceremonies, so any process can finish what another began.
CREATE TABLE webauthn_challenges (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB    NOT NULL,                                         -- SHA-256 of the ceremony handle given to the client
    kind       TEXT    NOT NULL,
    user_id    INTEGER NULL,                                             -- NULL for sign-up and discoverable login
    state      TEXT    NOT NULL,                                         -- serialized ceremony state
    context    TEXT    NULL,                                             -- application data bound to the ceremony, e.g. sign-up email
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_webauthn_challenges_kind CHECK (kind IN ('registration', 'authentication'))
);
CREATE UNIQUE INDEX ux_webauthn_challenges_token_hash ON webauthn_challenges (token_hash);
CREATE INDEX ix_webauthn_challenges_user_id ON webauthn_challenges (user_id);
CREATE INDEX ix_webauthn_challenges_expires_at ON webauthn_challenges (expires_at);

-- Login sessions; only the SHA-256 of the cookie token is stored.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB    NOT NULL,
    user_id      INTEGER NOT NULL,
    auth_method  TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    revoked_at   TEXT    NULL,
    ip           TEXT    NULL,
    user_agent   TEXT    NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_sessions_auth_method CHECK (auth_method IN ('passkey', 'backup_code', 'email_link', 'bootstrap'))
);
CREATE UNIQUE INDEX ux_sessions_token_hash ON sessions (token_hash);
CREATE INDEX ix_sessions_user_id ON sessions (user_id);
CREATE INDEX ix_sessions_expires_at ON sessions (expires_at);

-- One-time recovery codes; low entropy, so code_hash is a slow-hash (PHC) string.
CREATE TABLE backup_codes (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    code_hash  TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    used_at    TEXT    NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX ix_backup_codes_user_id ON backup_codes (user_id);

-- Operator-issued one-time tokens: first admin, or passkey recovery for a user.
CREATE TABLE bootstrap_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB    NOT NULL,
    purpose    TEXT    NOT NULL,
    user_id    INTEGER NULL,                                             -- target user for recovery; NULL for first admin
    email      TEXT    NULL,
    created_by TEXT    NULL,                                             -- operator or CLI that issued it
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    used_at    TEXT    NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_bootstrap_tokens_purpose CHECK (purpose IN ('first_admin', 'account_recovery'))
);
CREATE UNIQUE INDEX ux_bootstrap_tokens_token_hash ON bootstrap_tokens (token_hash);
CREATE INDEX ix_bootstrap_tokens_user_id ON bootstrap_tokens (user_id);

-- Single-use emailed sign-in / sign-up / recovery links.
CREATE TABLE email_login_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB    NOT NULL,
    email      TEXT    NOT NULL,
    user_id    INTEGER NULL,                                             -- NULL while signing up
    purpose    TEXT    NOT NULL DEFAULT 'login',
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    used_at    TEXT    NULL,
    ip         TEXT    NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_email_login_tokens_purpose CHECK (purpose IN ('login', 'signup', 'recovery'))
);
CREATE UNIQUE INDEX ux_email_login_tokens_token_hash ON email_login_tokens (token_hash);
CREATE INDEX ix_email_login_tokens_email ON email_login_tokens (email);
CREATE INDEX ix_email_login_tokens_user_id ON email_login_tokens (user_id);

-- ============================================================ access

-- Named roles (e.g. admin, support) for RBAC.
CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NULL,
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_roles_name ON roles (name);

-- Role grants; a role in use cannot be deleted.
CREATE TABLE user_roles (
    user_id            INTEGER NOT NULL,
    role_id            INTEGER NOT NULL,
    granted_at         TEXT    NOT NULL,
    granted_by_user_id INTEGER NULL,
    PRIMARY KEY (user_id, role_id),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (role_id) REFERENCES roles (id) ON DELETE RESTRICT,
    FOREIGN KEY (granted_by_user_id) REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX ix_user_roles_role_id ON user_roles (role_id);
CREATE INDEX ix_user_roles_granted_by_user_id ON user_roles (granted_by_user_id);

-- ============================================================ trading

-- One paper-trading account per user: exact-decimal cash.
CREATE TABLE paper_accounts (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL,
    currency      TEXT    NOT NULL DEFAULT 'USD',
    cash          TEXT    NOT NULL,
    starting_cash TEXT    NOT NULL,                                      -- for resets and P&L
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_paper_accounts_currency CHECK (length(currency) = 3)
);
CREATE UNIQUE INDEX ux_paper_accounts_user_id ON paper_accounts (user_id);

-- Alpaca-shaped paper orders.
CREATE TABLE paper_orders (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL,
    client_order_id  TEXT    NOT NULL,
    symbol           TEXT    NOT NULL,
    side             TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    time_in_force    TEXT    NOT NULL,
    qty              TEXT    NULL,                                       -- exactly one of qty / notional
    notional         TEXT    NULL,
    limit_price      TEXT    NULL,
    stop_price       TEXT    NULL,
    status           TEXT    NOT NULL,
    filled_qty       TEXT    NOT NULL,
    filled_avg_price TEXT    NULL,
    reject_reason    TEXT    NULL,
    created_at       TEXT    NOT NULL,
    submitted_at     TEXT    NOT NULL,
    filled_at        TEXT    NULL,
    canceled_at      TEXT    NULL,
    expired_at       TEXT    NULL,
    updated_at       TEXT    NOT NULL,
    FOREIGN KEY (account_id) REFERENCES paper_accounts (id) ON DELETE CASCADE,
    CONSTRAINT ck_paper_orders_side CHECK (side IN ('buy', 'sell')),
    CONSTRAINT ck_paper_orders_type CHECK (type IN ('market', 'limit', 'stop', 'stop_limit')),
    CONSTRAINT ck_paper_orders_time_in_force CHECK (time_in_force IN ('day', 'gtc', 'ioc', 'fok', 'opg', 'cls')),
    CONSTRAINT ck_paper_orders_status CHECK (status IN ('new', 'accepted', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected')),
    CONSTRAINT ck_paper_orders_qty_or_notional CHECK ((qty IS NULL) <> (notional IS NULL))
);
CREATE UNIQUE INDEX ux_paper_orders_account_id_client_order_id ON paper_orders (account_id, client_order_id);
CREATE INDEX ix_paper_orders_account_id_submitted_at ON paper_orders (account_id, submitted_at);
CREATE INDEX ix_paper_orders_status_symbol ON paper_orders (status, symbol);

-- Executions of paper orders (an order may fill in parts).
CREATE TABLE paper_fills (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL,
    account_id INTEGER NOT NULL,                                         -- denormalized for per-account listing
    symbol     TEXT    NOT NULL,
    side       TEXT    NOT NULL,
    qty        TEXT    NOT NULL,
    price      TEXT    NOT NULL,
    filled_at  TEXT    NOT NULL,
    FOREIGN KEY (order_id) REFERENCES paper_orders (id) ON DELETE CASCADE,
    FOREIGN KEY (account_id) REFERENCES paper_accounts (id) ON DELETE CASCADE,
    CONSTRAINT ck_paper_fills_side CHECK (side IN ('buy', 'sell'))
);
CREATE INDEX ix_paper_fills_order_id ON paper_fills (order_id);
CREATE INDEX ix_paper_fills_account_id_filled_at ON paper_fills (account_id, filled_at);

-- Open positions, one per (account, symbol).
CREATE TABLE positions (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL,
    symbol          TEXT    NOT NULL,
    qty             TEXT    NOT NULL,
    avg_entry_price TEXT    NOT NULL,
    cost_basis      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    FOREIGN KEY (account_id) REFERENCES paper_accounts (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ux_positions_account_id_symbol ON positions (account_id, symbol);

-- Per-account runtime switches (kill switch).
CREATE TABLE trading_runtime_state (
    account_id                 INTEGER NOT NULL,
    kill_switch                BOOLEAN NOT NULL DEFAULT FALSE,
    kill_switch_reason         TEXT    NULL,
    kill_switch_set_at         TEXT    NULL,
    kill_switch_set_by_user_id INTEGER NULL,
    updated_at                 TEXT    NOT NULL,
    PRIMARY KEY (account_id),
    FOREIGN KEY (account_id) REFERENCES paper_accounts (id) ON DELETE CASCADE,
    FOREIGN KEY (kill_switch_set_by_user_id) REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX ix_trading_runtime_state_kill_switch_set_by_user_id ON trading_runtime_state (kill_switch_set_by_user_id);

-- ============================================================ market data

-- Tradable instrument catalogue.
CREATE TABLE symbols (
    id              INTEGER PRIMARY KEY,
    ticker          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    exchange        TEXT    NOT NULL,
    asset_class     TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active',
    tradable        BOOLEAN NOT NULL DEFAULT TRUE,
    fractionable    BOOLEAN NOT NULL DEFAULT FALSE,
    vendor_asset_id TEXT    NULL,                                        -- e.g. Alpaca asset id
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CONSTRAINT ck_symbols_asset_class CHECK (asset_class IN ('us_equity', 'us_option', 'crypto')),
    CONSTRAINT ck_symbols_status CHECK (status IN ('active', 'inactive'))
);
CREATE UNIQUE INDEX ux_symbols_ticker ON symbols (ticker);

-- OHLCV bars (10M+ rows): natural key, no surrogate id, no other index.
CREATE TABLE historical_bars (
    symbol      TEXT    NOT NULL,                                        -- ticker; no FK so bars can be ingested before the catalogue
    timeframe   TEXT    NOT NULL,                                        -- e.g. 1Min, 1Hour, 1Day
    ts          TEXT    NOT NULL,                                        -- bar open time, UTC
    open        REAL    NOT NULL,
    high        REAL    NOT NULL,
    low         REAL    NOT NULL,
    close       REAL    NOT NULL,
    volume      REAL    NOT NULL,                                        -- fractional for crypto
    trade_count INTEGER NULL,
    vwap        REAL    NULL,
    PRIMARY KEY (symbol, timeframe, ts)
) WITHOUT ROWID;

-- Backtest runs: inputs, status, timings and result metrics.
CREATE TABLE backtests (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    name         TEXT    NULL,
    strategy     TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    timeframe    TEXT    NOT NULL,
    period_start TEXT    NOT NULL,
    period_end   TEXT    NOT NULL,
    initial_cash TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'queued',
    metrics      TEXT    NULL,
    error        TEXT    NULL,
    created_at   TEXT    NOT NULL,
    started_at   TEXT    NULL,
    finished_at  TEXT    NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_backtests_status CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled'))
);
CREATE INDEX ix_backtests_user_id_created_at ON backtests (user_id, created_at);

-- Simulated trades of one backtest.
CREATE TABLE backtest_trades (
    id          INTEGER PRIMARY KEY,
    backtest_id INTEGER NOT NULL,
    symbol      TEXT    NOT NULL,
    side        TEXT    NOT NULL,
    qty         TEXT    NOT NULL,
    price       TEXT    NOT NULL,
    executed_at TEXT    NOT NULL,
    realized_pl TEXT    NULL,                                            -- set on closing trades
    FOREIGN KEY (backtest_id) REFERENCES backtests (id) ON DELETE CASCADE,
    CONSTRAINT ck_backtest_trades_side CHECK (side IN ('buy', 'sell'))
);
CREATE INDEX ix_backtest_trades_backtest_id_executed_at ON backtest_trades (backtest_id, executed_at);

-- ============================================================ customer and operator

-- Per-user settings, one JSON value per key.
CREATE TABLE user_settings (
    user_id    INTEGER NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (user_id, key),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

-- Per-user onboarding steps.
CREATE TABLE onboarding_progress (
    user_id      INTEGER NOT NULL,
    step         TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending',
    data         TEXT    NULL,
    updated_at   TEXT    NOT NULL,
    completed_at TEXT    NULL,
    PRIMARY KEY (user_id, step),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_onboarding_progress_status CHECK (status IN ('pending', 'completed', 'skipped'))
);

-- Per-user animation / sound / haptics / P&L colour preferences.
CREATE TABLE visual_feedback_settings (
    user_id            INTEGER NOT NULL,
    animations_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    sound_enabled      BOOLEAN NOT NULL DEFAULT FALSE,
    haptics_enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    reduced_motion     BOOLEAN NOT NULL DEFAULT FALSE,
    pnl_color_scheme   TEXT    NOT NULL DEFAULT 'green_red',
    updated_at         TEXT    NOT NULL,
    PRIMARY KEY (user_id),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_visual_feedback_settings_pnl_color_scheme CHECK (pnl_color_scheme IN ('green_red', 'red_green', 'blue_orange'))
);

-- Operator notes about a customer.
CREATE TABLE admin_customer_notes (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL,                                     -- the customer
    author_user_id INTEGER NULL,
    body           TEXT    NOT NULL,
    pinned         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (author_user_id) REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX ix_admin_customer_notes_user_id_created_at ON admin_customer_notes (user_id, created_at);
CREATE INDEX ix_admin_customer_notes_author_user_id ON admin_customer_notes (author_user_id);

-- Point-in-time spend per vendor and billing period.
CREATE TABLE vendor_billing_snapshots (
    id           INTEGER PRIMARY KEY,
    vendor       TEXT NOT NULL,
    period_start TEXT NOT NULL,
    period_end   TEXT NOT NULL,
    amount       TEXT NOT NULL,
    currency     TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    details      TEXT NULL,
    CONSTRAINT ck_vendor_billing_snapshots_currency CHECK (length(currency) = 3)
);
CREATE INDEX ix_vendor_billing_snapshots_vendor_recorded_at ON vendor_billing_snapshots (vendor, recorded_at);
CREATE INDEX ix_vendor_billing_snapshots_recorded_at ON vendor_billing_snapshots (recorded_at);

-- Spend alert thresholds; vendor NULL means the total.
CREATE TABLE billing_alert_configs (
    id                INTEGER PRIMARY KEY,
    vendor            TEXT    NULL,                                      -- NULL = total across vendors
    threshold         TEXT    NOT NULL,
    currency          TEXT    NOT NULL DEFAULT 'USD',
    enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    notify_email      TEXT    NULL,
    last_triggered_at TEXT    NULL,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    CONSTRAINT ck_billing_alert_configs_currency CHECK (length(currency) = 3)
);
CREATE INDEX ix_billing_alert_configs_vendor ON billing_alert_configs (vendor);

-- Double-opt-in marketing list.
CREATE TABLE marketing_contacts (
    id                     INTEGER PRIMARY KEY,
    email                  TEXT    NOT NULL,                             -- lower-cased by the application
    status                 TEXT    NOT NULL DEFAULT 'pending',
    user_id                INTEGER NULL,
    source                 TEXT    NULL,
    confirm_token_hash     BLOB    NULL,
    unsubscribe_token_hash BLOB    NULL,
    created_at             TEXT    NOT NULL,
    confirmed_at           TEXT    NULL,
    unsubscribed_at        TEXT    NULL,
    updated_at             TEXT    NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT ck_marketing_contacts_status CHECK (status IN ('pending', 'confirmed', 'unsubscribed'))
);
CREATE UNIQUE INDEX ux_marketing_contacts_email ON marketing_contacts (email);
CREATE UNIQUE INDEX ux_marketing_contacts_confirm_token_hash ON marketing_contacts (confirm_token_hash);
CREATE UNIQUE INDEX ux_marketing_contacts_unsubscribe_token_hash ON marketing_contacts (unsubscribe_token_hash);
CREATE INDEX ix_marketing_contacts_user_id ON marketing_contacts (user_id);

-- Customer support tickets.
CREATE TABLE support_tickets (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NULL,                                       -- NULL until the sender is mapped to a user
    requester_email  TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'open',
    priority         TEXT    NOT NULL DEFAULT 'normal',
    assignee_user_id INTEGER NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    last_message_at  TEXT    NOT NULL,
    closed_at        TEXT    NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL,
    FOREIGN KEY (assignee_user_id) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT ck_support_tickets_status CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    CONSTRAINT ck_support_tickets_priority CHECK (priority IN ('low', 'normal', 'high', 'urgent'))
);
CREATE INDEX ix_support_tickets_status_last_message_at ON support_tickets (status, last_message_at);
CREATE INDEX ix_support_tickets_user_id ON support_tickets (user_id);
CREATE INDEX ix_support_tickets_requester_email ON support_tickets (requester_email);
CREATE INDEX ix_support_tickets_assignee_user_id ON support_tickets (assignee_user_id);

-- Raw inbound emails from the Postmark inbound webhook.
CREATE TABLE postmark_inbound_messages (
    id                  INTEGER PRIMARY KEY,
    message_id          TEXT NOT NULL,                                   -- Postmark MessageID; idempotency key
    from_email          TEXT NOT NULL,
    from_name           TEXT NULL,
    to_email            TEXT NOT NULL,                                   -- To header as received
    mailbox_hash        TEXT NULL,                                       -- plus-address tag, used for ticket routing
    subject             TEXT NOT NULL,
    text_body           TEXT NULL,
    html_body           TEXT NULL,
    stripped_text_reply TEXT NULL,
    received_at         TEXT NOT NULL,
    attachments         TEXT NULL,                                       -- attachment metadata
    raw                 TEXT NOT NULL,
    processed_at        TEXT NULL
);
CREATE UNIQUE INDEX ux_postmark_inbound_messages_message_id ON postmark_inbound_messages (message_id);
CREATE INDEX ix_postmark_inbound_messages_from_email ON postmark_inbound_messages (from_email);
CREATE INDEX ix_postmark_inbound_messages_received_at ON postmark_inbound_messages (received_at);

-- Messages on a ticket: inbound email, staff reply, or internal note.
CREATE TABLE support_messages (
    id                  INTEGER PRIMARY KEY,
    ticket_id           INTEGER NOT NULL,
    direction           TEXT    NOT NULL,
    author_user_id      INTEGER NULL,
    from_email          TEXT    NULL,
    body_text           TEXT    NOT NULL,
    body_html           TEXT    NULL,
    inbound_message_id  INTEGER NULL,
    postmark_message_id TEXT    NULL,                                    -- outbound Postmark MessageID
    created_at          TEXT    NOT NULL,
    FOREIGN KEY (ticket_id) REFERENCES support_tickets (id) ON DELETE CASCADE,
    FOREIGN KEY (author_user_id) REFERENCES users (id) ON DELETE SET NULL,
    FOREIGN KEY (inbound_message_id) REFERENCES postmark_inbound_messages (id) ON DELETE SET NULL,
    CONSTRAINT ck_support_messages_direction CHECK (direction IN ('inbound', 'outbound', 'internal'))
);
CREATE INDEX ix_support_messages_ticket_id_created_at ON support_messages (ticket_id, created_at);
CREATE INDEX ix_support_messages_author_user_id ON support_messages (author_user_id);
CREATE INDEX ix_support_messages_inbound_message_id ON support_messages (inbound_message_id);

-- Maps a sender email to a user (one user per email).
CREATE TABLE support_customer_map (
    id                INTEGER PRIMARY KEY,
    email             TEXT    NOT NULL,                                  -- lower-cased by the application
    user_id           INTEGER NOT NULL,
    mapped_by_user_id INTEGER NULL,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (mapped_by_user_id) REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX ux_support_customer_map_email ON support_customer_map (email);
CREATE INDEX ix_support_customer_map_user_id ON support_customer_map (user_id);
CREATE INDEX ix_support_customer_map_mapped_by_user_id ON support_customer_map (mapped_by_user_id);

-- Postmark delivery/bounce/complaint/open/click webhooks.
CREATE TABLE postmark_delivery_events (
    id          INTEGER PRIMARY KEY,
    record_type TEXT NOT NULL,                                           -- Delivery, Bounce, SpamComplaint, Open, Click, SubscriptionChange
    message_id  TEXT NOT NULL,
    event_key   TEXT NOT NULL,                                           -- idempotency key derived from the payload
    recipient   TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    details     TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_postmark_delivery_events_event_key ON postmark_delivery_events (event_key);
CREATE INDEX ix_postmark_delivery_events_message_id ON postmark_delivery_events (message_id);
CREATE INDEX ix_postmark_delivery_events_recipient ON postmark_delivery_events (recipient);

-- Inbound status-page / provider status webhooks.
CREATE TABLE status_webhook_events (
    id           INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    processed_at TEXT NULL
);
CREATE UNIQUE INDEX ux_status_webhook_events_event_id ON status_webhook_events (event_id);
CREATE INDEX ix_status_webhook_events_received_at ON status_webhook_events (received_at);

-- ============================================================ platform

-- Append-only security/admin audit trail (union of the older audit tables' columns).
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    created_at    TEXT    NOT NULL,
    actor_user_id INTEGER NULL,                                          -- no FK: history must survive user deletion unchanged
    actor_email   TEXT    NULL,                                          -- snapshot at the time of the event
    actor_type    TEXT    NOT NULL DEFAULT 'user',                       -- user, admin, system, operator
    action        TEXT    NOT NULL,
    target_type   TEXT    NULL,
    target_id     TEXT    NULL,
    target        TEXT    NULL,                                          -- free-form target description
    outcome       TEXT    NOT NULL DEFAULT 'success',
    ip            TEXT    NULL,
    user_agent    TEXT    NULL,
    request_id    TEXT    NULL,
    session_id    INTEGER NULL,
    details       TEXT    NULL
);
CREATE INDEX ix_audit_log_created_at ON audit_log (created_at);
CREATE INDEX ix_audit_log_actor_user_id_created_at ON audit_log (actor_user_id, created_at);
CREATE INDEX ix_audit_log_action_created_at ON audit_log (action, created_at);
CREATE INDEX ix_audit_log_target_type_target_id ON audit_log (target_type, target_id);

-- Workflow-level traces (time-series; may be time-partitioned on Postgres).
CREATE TABLE trace_workflows (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,                                           -- time column for partitioning
    workflow_id TEXT NOT NULL,                                           -- application-generated id shared with trace_events
    name        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'running',
    finished_at TEXT NULL,
    attributes  TEXT NULL,
    CONSTRAINT ck_trace_workflows_status CHECK (status IN ('running', 'succeeded', 'failed', 'canceled'))
);
CREATE INDEX ix_trace_workflows_workflow_id ON trace_workflows (workflow_id);
CREATE INDEX ix_trace_workflows_started_at ON trace_workflows (started_at);
CREATE INDEX ix_trace_workflows_name_started_at ON trace_workflows (name, started_at);

-- Events within a workflow (time-series; may be time-partitioned on Postgres).
CREATE TABLE trace_events (
    id          INTEGER PRIMARY KEY,
    created_at  TEXT    NOT NULL,                                        -- time column for partitioning; will join id in the key
    workflow_id TEXT    NOT NULL,                                        -- trace_workflows.workflow_id; no FK so both tables can be partitioned
    name        TEXT    NOT NULL,
    status      TEXT    NULL,
    duration_ms INTEGER NULL,
    attributes  TEXT    NULL
);
CREATE INDEX ix_trace_events_workflow_id_created_at ON trace_events (workflow_id, created_at);
CREATE INDEX ix_trace_events_created_at ON trace_events (created_at);

-- Background jobs; claimed with FOR UPDATE SKIP LOCKED on Postgres.
CREATE TABLE job_queue (
    id           INTEGER PRIMARY KEY,
    queue        TEXT    NOT NULL DEFAULT 'default',
    kind         TEXT    NOT NULL,                                       -- job handler name
    payload      TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'queued',
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 5,
    run_at       TEXT    NOT NULL,
    locked_at    TEXT    NULL,
    locked_by    TEXT    NULL,
    last_error   TEXT    NULL,
    created_at   TEXT    NOT NULL,
    finished_at  TEXT    NULL,
    CONSTRAINT ck_job_queue_status CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled'))
);
CREATE INDEX ix_job_queue_run_at ON job_queue (run_at) WHERE status = 'queued';
CREATE INDEX ix_job_queue_locked_at ON job_queue (locked_at) WHERE status = 'running';
CREATE INDEX ix_job_queue_queue_status ON job_queue (queue, status);

-- Fixed-window abuse counters shared by all server processes.
CREATE TABLE rate_limits (
    key          TEXT    NOT NULL,                                       -- e.g. login:ip:203.0.113.7
    window_start TEXT    NOT NULL,
    count        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX ix_rate_limits_window_start ON rate_limits (window_start);
