-- popauth grant store: migration from schema version 1 to 2.
-- Adds where each log source stopped (so a restart resumes after the last committed
-- line) and the per-source counters shown by `popauthctl stats`.

CREATE TABLE positions (
    -- The source as configured in log_sources: "file:/var/log/mail.log", "journal:...".
    source  TEXT    NOT NULL PRIMARY KEY,
    -- A followed file's identity (st_dev, st_ino) and the bytes consumed: the offset
    -- just after the last line whose grants were committed with this row.
    device  INTEGER NOT NULL,
    inode   INTEGER NOT NULL,
    offset  INTEGER NOT NULL,
    -- Hash of the file's first line, to tell a recreated file from the old one.
    head    TEXT    NOT NULL,
    -- A journal source's cursor ("" for files).
    cursor  TEXT    NOT NULL,
    updated INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE counters (
    -- The source, as in positions.source; name is one of lines, logins, grants,
    -- rejected, errors.
    source TEXT    NOT NULL,
    name   TEXT    NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (source, name)
) WITHOUT ROWID;
