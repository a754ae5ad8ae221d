-- Who answered the call: the callee's leg (a ring group's member or a
-- user's extension number, the trunk id of a gateway; '' when no callee
-- answered). Rows written before this migration read back as ''.
ALTER TABLE cdr ADD COLUMN answered_by TEXT NOT NULL DEFAULT '';
