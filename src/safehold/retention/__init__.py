"""Retention: legal holds (and, later, the retention sweeps)."""
