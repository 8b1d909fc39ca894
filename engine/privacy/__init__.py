"""Privacy: user ids as keyed hashes (for logs and the record of who was forgotten), and forgetting a user."""
