"""The SQLAlchemy store: tables, migrations and the queries the daemon needs."""
