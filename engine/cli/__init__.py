"""engine.cli: the command line (`python -m engine ...`): `main` parses and dispatches, `intake` reads a dataset."""
