-- Migration 5: partitions.max_value_bytes, the size of the largest value
-- ever appended to the partition, kept by every append in the UPDATE that
-- allocates its offsets (the row it locks anyway). A read of at most n
-- rows within a byte budget b needs no running sum of the values' sizes
-- when n × max_value_bytes ≤ b: it is then a plain index range scan, the
-- running sum (a window over the rows) only for the partitions whose
-- values could exceed the budget (broker/storage/pgstore, boundedReadSQL).
-- Existing partitions get the largest value they hold, read once here.
-- Brokers of the release before keep appending without raising it during
-- a rolling upgrade: a read may then take up to its row limit of their
-- larger values, past its byte budget; the row limit still bounds it.
ALTER TABLE partitions ADD COLUMN max_value_bytes integer NOT NULL DEFAULT 0 CHECK (max_value_bytes >= 0);
UPDATE partitions p SET max_value_bytes = coalesce(
    (SELECT max(octet_length(m.value)) FROM messages m WHERE m.topic = p.topic AND m.partition = p.partition), 0);
