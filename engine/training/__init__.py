"""engine.training: the shared training loop, negative sampling and the device policy."""
