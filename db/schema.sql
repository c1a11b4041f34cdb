-- popauth grant store, schema version 3.
--
-- This is the latest full schema. popauth and popauthctl apply it, in one transaction,
-- to a new (or empty) database file; an older database is brought up to date by the
-- migration steps built into the programs, one schema version at a time. The version
-- lives in PRAGMA user_version, set by the last line below. The programs put the file
-- in WAL mode themselves, so this file must not set journal_mode or open transactions.
--
-- One row per client address that has logged in to POP3/IMAP. The mail gate lets that
-- address relay while expires > now; expired rows stay until `popauthctl purge` deletes
-- them. Admins may inspect the store with the sqlite3 shell, for example:
--
--   sqlite3 -readonly /var/lib/popauth/auth.db \
--     "SELECT address, user, datetime(expires, 'unixepoch') FROM auth
--      WHERE expires > unixepoch() ORDER BY address;"
--
-- Change rows with popauthctl (allow, revoke, purge) rather than by hand: the programs
-- keep the invariants described below.

CREATE TABLE auth (
    -- The client IP address in canonical text: IPv4 dotted decimal ("192.0.2.7"),
    -- IPv6 in RFC 5952 form ("2001:db8::7"); an IPv4-mapped IPv6 address is stored
    -- as its IPv4 address. Compare with exactly this form.
    address     TEXT    NOT NULL PRIMARY KEY,
    -- The user of the most recent login from this address (at most 255 bytes).
    user        TEXT    NOT NULL,
    -- Where that login was seen: the log format name ("dovecot", "courier", ...),
    -- "pcap" for the sniffer, or "admin" for `popauthctl allow`.
    source      TEXT    NOT NULL,
    -- Time of the earliest and of the latest login recorded for this address
    -- (unix seconds, UTC). first_login never moves forward, last_login never back.
    first_login INTEGER NOT NULL,
    last_login  INTEGER NOT NULL,
    -- Number of logins recorded for this address since its row was created.
    logins      INTEGER NOT NULL,
    -- The address may relay until this time (unix seconds, UTC), exclusive: the grant
    -- is active while expires > now. A later login extends it; it never shrinks.
    expires     INTEGER NOT NULL
) WITHOUT ROWID;

-- No index on expires: every login writes here, and only purge and stats ask by expiry
-- (they read the whole table; see migrate_3.sql).

-- Where each log source stopped, and its counters (see migrate_2.sql for the columns).
CREATE TABLE positions (
    source  TEXT    NOT NULL PRIMARY KEY,
    device  INTEGER NOT NULL,
    inode   INTEGER NOT NULL,
    offset  INTEGER NOT NULL,
    head    TEXT    NOT NULL,
    cursor  TEXT    NOT NULL,
    updated INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE counters (
    source TEXT    NOT NULL,
    name   TEXT    NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (source, name)
) WITHOUT ROWID;

PRAGMA user_version = 3;
