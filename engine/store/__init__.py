"""engine.store: SQLAlchemy tables, sessions and migrations, and the fsync'd JSON-lines journal."""
