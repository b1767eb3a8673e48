-- 0010_support_reply_tokens (sqlite, down).
DROP TABLE support_reply_tokens;
ALTER TABLE support_messages DROP COLUMN sender_check;
ALTER TABLE support_tickets DROP COLUMN unverified_sender;
