"""engine.metrics: full-ranking accuracy, beyond-accuracy and paired statistics."""
