-- Placeholder on the groups branch only, so that 0004 follows without a gap:
-- the records branch ships the real 0002_records.sql, which replaces this file.
SELECT 1;
