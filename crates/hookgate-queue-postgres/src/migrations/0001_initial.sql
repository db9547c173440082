-- hookgate queue, version 1. Runs with search_path set to the queue's schema.

-- One row per delivery not yet handled, or dead.
CREATE TABLE deliveries (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text        NOT NULL,
    delivery_id  text        NOT NULL,
    received_at  timestamptz NOT NULL,
    headers      bytea       NOT NULL,
    body         bytea       NOT NULL,
    coalesce_key text,
    state        text        NOT NULL CHECK (state IN ('waiting', 'leased', 'dead')),
    due_at       timestamptz NOT NULL,
    lease_token  bigint,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);
-- Leasing: the oldest due first, waiting or with an expired lease.
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE state IN ('waiting', 'leased');
-- Dead letters, listed oldest received first and replayed by time or key.
CREATE INDEX deliveries_dead ON deliveries (received_at) WHERE state = 'dead';
CREATE INDEX deliveries_dead_key ON deliveries (source, delivery_id) WHERE state = 'dead';
-- Coalescing: at most one waiting version of an object.
CREATE UNIQUE INDEX deliveries_coalesce ON deliveries (source, coalesce_key)
    WHERE coalesce_key IS NOT NULL AND state = 'waiting';

-- Delivery keys seen within the deduplication window (pruned in the background).
CREATE TABLE seen (
    source      text        NOT NULL,
    delivery_id text        NOT NULL,
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
CREATE INDEX seen_by_time ON seen (seen_at);

-- Wakes idle workers (LISTEN "<schema>.ready") when something becomes ready:
-- once per inserting statement, and for each row made waiting again
-- (retries, releases, recovered leases, replays). Leasing never notifies,
-- so workers never wake each other in a loop.
CREATE FUNCTION notify_ready() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.ready', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER deliveries_ready_on_insert AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION notify_ready();
CREATE TRIGGER deliveries_ready_on_update AFTER UPDATE OF state ON deliveries
    FOR EACH ROW WHEN (NEW.state = 'waiting') EXECUTE FUNCTION notify_ready();
