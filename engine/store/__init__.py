"""engine.store: SQLAlchemy tables, sessions and the data folder."""
