-- Migration 2: records are bytes with a key, headers and a timestamp; a log
-- start offset per partition; idempotent producers' state (issue 13, items
-- 3 and 5).
--
-- messages.payload (text) becomes messages.value (bytea), keeping its data
-- (the UTF-8 bytes of the text), and key becomes bytea likewise. headers is
-- bytea, not jsonb: header values are bytes (jsonb would need them base64
-- inside the JSON), the broker never queries into them, and a NULL column
-- costs nothing for the records without headers on the COPY path; pgstore
-- owns the encoding (a sequence of varint-length-prefixed key and value
-- pairs). ts is the record's timestamp, set by the producer or, when it
-- sets none, the append's time; produced_at stays the append's time (the
-- broker's clock), so retention by time can rely on it whatever producers
-- claim.
--
-- This migration rewrites the messages table and changes column types:
-- brokers of the previous release cannot append to the migrated schema, so
-- stop them before the first broker of this release starts.

ALTER TABLE messages RENAME COLUMN payload TO value;
ALTER TABLE messages
    ALTER COLUMN value TYPE bytea USING convert_to(value, 'UTF8'),
    ALTER COLUMN key TYPE bytea USING convert_to(key, 'UTF8'),
    ADD COLUMN headers bytea,
    ADD COLUMN ts timestamptz;
UPDATE messages SET ts = produced_at;
ALTER TABLE messages ALTER COLUMN ts SET NOT NULL;

-- The first offset still stored: fetches below it answer
-- offset_out_of_range. The retention helper's broker loop advances it; it
-- never passes the high watermark.
ALTER TABLE partitions
    ADD COLUMN log_start_offset bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT partitions_log_start_check CHECK (log_start_offset >= 0 AND log_start_offset <= next_offset);

-- An idempotent producer's state in one partition: its epoch, and the
-- last (at most 5, oldest first) batches it appended there, each by its
-- first and last sequence and the offset of its first record, so that a
-- retried batch is recognised and answered with its original offset.
-- Written in the transaction that stores the batch, under the partition
-- row's lock, so it survives restarts and takeovers with the records.
CREATE TABLE producer_state (
    topic        text     COLLATE "C" NOT NULL,
    partition    int      NOT NULL,
    producer_id  bigint   NOT NULL,
    epoch        bigint   NOT NULL CHECK (epoch >= 0),
    first_seqs   bigint[] NOT NULL,
    last_seqs    bigint[] NOT NULL,
    base_offsets bigint[] NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, producer_id)
);
