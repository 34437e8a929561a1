"""Storage: PostgreSQL, the system of record (pool, migrations, embedded server, SQL)."""
