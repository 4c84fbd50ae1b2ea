-- Migration 4: committed offsets of consumer groups (docs/groups.md).
-- Written only by package groups/pgoffsets. One row per group and
-- partition; a commit overwrites it. Rows exist only for topics and
-- partitions that existed when committed (the coordinator checks), and go
-- with their group (DELETE /groups/{group}).
CREATE TABLE group_offsets (
    group_name   text        NOT NULL CHECK (group_name <> ''),
    topic        text        NOT NULL CHECK (topic <> ''),
    partition    int         NOT NULL CHECK (partition >= 0),
    "offset"     bigint      NOT NULL CHECK ("offset" >= 0),
    metadata     text        NOT NULL DEFAULT '',
    committed_at timestamptz NOT NULL,
    PRIMARY KEY (group_name, topic, partition)
);
