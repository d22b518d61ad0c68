"""Backups that cannot bring an erased person back: consistent copies of the database with a
manifest, the erasure ledger kept outside the database, and restore with replay
(docs/operations.md, "Backup and restore"; decision 0035)."""
