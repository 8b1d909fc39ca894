"""engine.data: reading, validating, profiling and encoding datasets."""
