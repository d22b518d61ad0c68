"""Communication: message kinds, preferences and opt-out (the marketing choice record)."""
