-- Why the call ended, as the call layer names it (normal, busy, no_answer,
-- cancel, rtp_timeout, media_failed, ...), and who answered it (the
-- callee's leg: a ring group's member or a user's extension number, the
-- trunk id of a gateway; '' when no callee answered). Rows written before
-- this migration read back as ''. ADD COLUMN with a constant default does
-- not rewrite the table (PostgreSQL 11 and later).
ALTER TABLE cdr ADD COLUMN hangup_cause TEXT NOT NULL DEFAULT '';
ALTER TABLE cdr ADD COLUMN answered_by TEXT NOT NULL DEFAULT '';
