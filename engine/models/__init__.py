"""engine.models: one file per model and the registry; the interface they implement is `engine.core.model`."""
