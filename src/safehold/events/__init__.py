"""Usage and device data: batched, idempotent event ingestion, login history, server-side
device detection, IP minimisation and month-partitioned storage (docs/events.md)."""
