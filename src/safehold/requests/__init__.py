"""Data-subject requests: verification, deadlines, erasure, certificates (GDPR Art. 12-21)."""
