"""API keys and scopes, purpose checks, and (later) the hash-chained audit log."""
