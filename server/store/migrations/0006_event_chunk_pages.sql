-- Fewer pages per commit. Every index on event_chunks is one more page that each commit writes
-- whole to the WAL, per session it touches; for a trickle of one-line frames those pages, not
-- the events, were most of what the server wrote.
--
-- event_chunks_idempotency only backed up the real guard: ingestion skips every event whose
-- relay_seq is not above its session's committed last_relay_seq, under one lock, numbering from
-- committed state only (server/domain/events.py).
DROP INDEX event_chunks_idempotency;

-- event_chunks_by_end served reads by last_seq; chunks of a session never overlap, so the
-- primary key (session_id, first_seq) finds the same rows (server/store/events_store.py).
DROP INDEX event_chunks_by_end;
