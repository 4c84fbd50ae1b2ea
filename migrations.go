package logq

import "embed"

// Migrations holds logq's schema as numbered SQL files, migrations/NNNN_name.sql
// (version NNNN, from 0001, without gaps). internal/pg.Migrate applies those a
// database has not recorded in its schema_migrations table, in version order,
// each in its own transaction, under an advisory lock, so that whichever
// server starts first upgrades the database and the others wait and find
// nothing left to do.
//
// The schema changes by adding the next file, never by editing one that has
// shipped: a database already past a version never runs that file again, so
// an edit would reach new databases only. TestMigrationsUnchanged holds a
// checksum of every shipped file. A migration runs inside a transaction, so
// it cannot use statements that refuse one (CREATE INDEX CONCURRENTLY); it
// should keep the previous release working against the new schema, since
// servers of both releases run side by side during a rolling upgrade.
//
//go:embed migrations/*.sql
var Migrations embed.FS
