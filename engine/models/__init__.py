"""engine.models: the model interface, the registry and one file per model."""
