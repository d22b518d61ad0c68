"""API keys and scopes, purpose checks, and the keyed, hash-chained audit log."""
