"""engine.protocols: seeded cold-start splits with explicit candidate sets."""
