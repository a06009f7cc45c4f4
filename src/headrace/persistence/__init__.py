"""The metadata store: SQLite by default, PostgreSQL in production."""
