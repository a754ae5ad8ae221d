-- Why the call ended, as the call layer names it (normal, busy, no_answer,
-- cancel, rtp_timeout, media_failed, ...). Rows written before this
-- migration read back as ''. ADD COLUMN with a constant default does not
-- rewrite the table (PostgreSQL 11 and later).
ALTER TABLE cdr ADD COLUMN hangup_cause TEXT NOT NULL DEFAULT '';
