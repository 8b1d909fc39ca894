"""engine.analysis: reading finished runs back: compare them side by side, explore one model's recommendations."""
