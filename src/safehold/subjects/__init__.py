"""People the service holds data about: registration, purpose-scoped reads, rectification,
closure and payment methods, all encrypted in the vault."""
