-- Migration 2: a placeholder on the retention branch only, so that
-- migration 3 (retention) has no gap before it. The records branch adds the
-- real 0002_records.sql: when the branches merge, keep that file (and its
-- checksum in migrations_test.go) and drop this one.
SELECT 1;
