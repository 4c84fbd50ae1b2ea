-- logq schema: applied idempotently on start by every server and by the tests.
-- One file, two planes: the control plane (events, writer lease, snapshots)
-- written only by the eventlog package, and the data plane (partitions,
-- messages, consumer positions) written only by the broker's store.

-- Control plane ----------------------------------------------------------

-- The write-ahead log of cluster metadata. seq is assigned by the single
-- fenced writer: gap-free and in commit order.
CREATE TABLE IF NOT EXISTS events (
    seq   bigint      PRIMARY KEY CHECK (seq > 0),
    at    timestamptz NOT NULL,
    type  text        NOT NULL,
    data  jsonb       NOT NULL,
    epoch bigint      NOT NULL CHECK (epoch > 0)
);

-- The writer's leadership epoch. Bumped by every new writer while it holds
-- the writer advisory lock; each append checks it (fencing).
CREATE TABLE IF NOT EXISTS writer_lease (
    id     int         PRIMARY KEY CHECK (id = 1),
    epoch  bigint      NOT NULL,
    holder text        NOT NULL,
    since  timestamptz NOT NULL
);

-- Encoded projection states, so a cold start replays only what came after.
CREATE TABLE IF NOT EXISTS snapshots (
    seq   bigint      PRIMARY KEY,
    at    timestamptz NOT NULL DEFAULT now(),
    state bytea       NOT NULL
);

-- Wake-up for notify-mode tailers. The payload is only a hint: tailers
-- always read the events themselves by seq.
CREATE OR REPLACE FUNCTION logq_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('logq_events', NEW.seq::text);
    RETURN NULL;
END;
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'logq_events_notify') THEN
        CREATE TRIGGER logq_events_notify AFTER INSERT ON events
            FOR EACH ROW EXECUTE FUNCTION logq_events_notify();
    END IF;
    -- For logical-mode tailers (pgoutput).
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'logq_events') THEN
        CREATE PUBLICATION logq_events FOR TABLE events;
    END IF;
END;
$$;

-- Data plane -------------------------------------------------------------
-- Topic columns use the "C" collation: names are ASCII ([A-Za-z0-9._-]), so
-- byte order is the natural order, and every index comparison on the hot
-- append path is a memcmp instead of a locale-aware strcoll.

-- One row per partition: the ownership epoch storage enforces (fencing) and
-- the next offset to assign. Appends lock this row, so offsets are gap-free
-- and in commit order even with several brokers on one database.
CREATE TABLE IF NOT EXISTS partitions (
    topic       text   COLLATE "C" NOT NULL,
    partition   int    NOT NULL CHECK (partition >= 0),
    epoch       bigint NOT NULL,
    owner       bigint NOT NULL,
    next_offset bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, partition)
);

CREATE TABLE IF NOT EXISTS messages (
    topic       text        COLLATE "C" NOT NULL,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL,
    produced_at timestamptz NOT NULL,
    producer_id bigint      NOT NULL,
    key         text,
    payload     text        NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);

-- A consumer's position (next offset to read) in each partition it reads.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    consumer_id bigint NOT NULL,
    topic       text   COLLATE "C" NOT NULL,
    partition   int    NOT NULL,
    position    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer_id, topic, partition)
);
