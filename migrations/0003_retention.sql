-- Migration 3: retention. The messages table becomes partitioned by RANGE
-- on (topic, partition, "offset") into segments (Kafka's log segments), so
-- that retention drops whole tables instead of deleting rows; a catalog of
-- the segments; and each partition's log start offset (its first offset
-- still stored). docs/retention.md describes the design.
--
-- Written to work whatever columns messages has when it runs (migration 2
-- changes them): the new table is made LIKE the old one, and the rows move
-- with SELECT *.

-- The first offset of a partition still stored; only moves forward.
-- Migration 2 (records) adds the same column; either may come first.
ALTER TABLE partitions ADD COLUMN IF NOT EXISTS log_start_offset bigint NOT NULL DEFAULT 0;

-- One row per segment of messages: offsets [base_offset, end_offset) of one
-- partition live in table relname, attached to messages. Only the broker's
-- store (pgstore) writes it, in the transaction that attaches or drops the
-- segment.
CREATE TABLE message_segments (
    topic       text   COLLATE "C" NOT NULL,
    partition   int    NOT NULL,
    base_offset bigint NOT NULL CHECK (base_offset >= 0),
    end_offset  bigint NOT NULL,
    relname     text   NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, base_offset),
    CHECK (end_offset > base_offset)
);

DO $$
DECLARE
    idx record;
    p   record;
    seg text;
BEGIN
    ALTER TABLE messages RENAME TO messages_old;
    -- Free the index names (messages_pkey, ...) for the new table's.
    FOR idx IN
        SELECT c.relname FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'messages_old'::regclass AND c.relname LIKE 'messages%'
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.relname, 'old_' || idx.relname);
    END LOOP;

    CREATE TABLE messages (LIKE messages_old INCLUDING ALL)
        PARTITION BY RANGE (topic, partition, "offset");
    -- LIKE names the copied indexes after the new table already; make sure
    -- the primary key is messages_pkey, as before.
    FOR idx IN
        SELECT c.relname FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'messages'::regclass AND i.indisprimary AND c.relname <> 'messages_pkey'
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO messages_pkey', idx.relname);
    END LOOP;

    -- One segment per partition for what is stored already: offsets from 0
    -- to its next offset. The store creates the following segments.
    FOR p IN
        SELECT topic, partition, max(n) AS n FROM (
            SELECT topic, partition, next_offset AS n FROM partitions
            UNION ALL
            SELECT topic, partition, max("offset") + 1 FROM messages_old GROUP BY topic, partition
        ) s GROUP BY topic, partition HAVING max(n) > 0
    LOOP
        seg := format('msg_%s_%s_%s', left(md5(p.topic), 12), p.partition, 0);
        EXECUTE format('CREATE TABLE %I (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', seg);
        EXECUTE format('ALTER TABLE messages ATTACH PARTITION %I FOR VALUES FROM (%L, %s, 0) TO (%L, %s, %s)',
            seg, p.topic, p.partition, p.topic, p.partition, p.n);
        INSERT INTO message_segments (topic, partition, base_offset, end_offset, relname)
        VALUES (p.topic, p.partition, 0, p.n, seg);
    END LOOP;

    INSERT INTO messages SELECT * FROM messages_old;
    DROP TABLE messages_old;
END;
$$;
