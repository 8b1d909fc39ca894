"""engine.runs: an experiment (a dataset split once) and the runs on it: fit, evaluate, tune and record one model."""
