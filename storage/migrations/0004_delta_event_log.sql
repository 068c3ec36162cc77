-- The event log now stores deltas (what each write changed), not the whole registry.
-- Old rows held full lists (hundreds of KB each): drop them. The seq counter
-- (sqlite_sequence) is kept, so seq keeps growing and a client whose lastSeq predates
-- the log gets events:reset and refetches.
DELETE FROM events;
-- What a registry event's objects were before it ({id: object or null}), so a replay
-- in the full format can show the registry as it was at each event.
ALTER TABLE events ADD COLUMN prior BLOB
