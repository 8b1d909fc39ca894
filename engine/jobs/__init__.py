"""engine.jobs: the database-backed run queue, the supervisor and run child processes."""
