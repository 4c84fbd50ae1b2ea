package pg

// For tests that run migrations of their own.
var (
	MigrateList    = migrate
	Migrations     = migrations
	LoadMigrations = loadMigrations
)
