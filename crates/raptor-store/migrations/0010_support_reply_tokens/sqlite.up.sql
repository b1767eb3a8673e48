-- 0010_support_reply_tokens (sqlite, up): inbound mail that no receiving server authenticated
-- is flagged for staff, and staff replies carry a random per-reply token in their Reply-To
-- (support+<token>@…) that alone lets an inbound mail continue a ticket. Only the token's
-- SHA-256 is kept.
ALTER TABLE support_tickets ADD COLUMN unverified_sender BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE support_messages ADD COLUMN sender_check TEXT NULL;          -- the verdict on an emailed message's sender

CREATE TABLE support_reply_tokens (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL,
    token_hash BLOB    NOT NULL,                                         -- SHA-256 of the token in the Reply-To
    created_at TEXT    NOT NULL,
    FOREIGN KEY (ticket_id) REFERENCES support_tickets (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ux_support_reply_tokens_token_hash ON support_reply_tokens (token_hash);
CREATE INDEX ix_support_reply_tokens_ticket_id ON support_reply_tokens (ticket_id);
