package pg

// MigrateList is migrate, for tests that run their own migrations.
var MigrateList = migrate
