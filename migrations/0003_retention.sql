-- Placeholder on the groups branch only, so that 0004 follows without a gap:
-- the retention branch ships the real 0003_retention.sql, which replaces this file.
SELECT 1;
