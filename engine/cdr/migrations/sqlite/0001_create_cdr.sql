-- Call detail records. Times are INTEGER microseconds since the Unix epoch (UTC),
-- NULL when the event did not happen.
CREATE TABLE cdr (
    call_id          TEXT    NOT NULL PRIMARY KEY,
    company          TEXT    NOT NULL DEFAULT '',
    caller_type      TEXT    NOT NULL DEFAULT '',
    from_number      TEXT    NOT NULL DEFAULT '',
    dialled          TEXT    NOT NULL DEFAULT '',
    final_number     TEXT    NOT NULL DEFAULT '',
    did              TEXT    NOT NULL DEFAULT '',
    trunk            TEXT    NOT NULL DEFAULT '',
    rule             TEXT    NOT NULL DEFAULT '',
    target           TEXT    NOT NULL DEFAULT '',
    source           TEXT    NOT NULL DEFAULT '',
    offhours         TEXT    NOT NULL DEFAULT '',
    generation       INTEGER NOT NULL DEFAULT 0,
    start_time       INTEGER NOT NULL,
    answer_time      INTEGER,
    end_time         INTEGER,
    duration_ms      INTEGER NOT NULL DEFAULT 0,
    billable_seconds INTEGER NOT NULL DEFAULT 0,
    disposition      TEXT    NOT NULL,
    sip_code         INTEGER NOT NULL DEFAULT 0,
    hangup_by        TEXT    NOT NULL DEFAULT '',
    recording_path   TEXT    NOT NULL DEFAULT '',
    explanation      TEXT    NOT NULL DEFAULT ''
);
-- Two secondary indexes only: each one more costs ~10 us of CPU per row on
-- SQLite (measured: 22 us/row with none of the number indexes, 57 with
-- three). Number filters walk the start_time index newest first.
CREATE INDEX cdr_start_time ON cdr (start_time);
CREATE INDEX cdr_company_start ON cdr (company, start_time);
