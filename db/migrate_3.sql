-- popauth grant store: migration from schema version 2 to 3.
-- Drops the index on auth.expires. Every login wrote to it as well as to the table,
-- which made each grant write cost nearly twice as much, while only `popauthctl purge`
-- and `popauthctl stats` used it; they now read the whole table, which takes a fraction
-- of a second even for a million rows.

DROP INDEX IF EXISTS auth_expires;
