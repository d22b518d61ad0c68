"""Aggregated, k-anonymous usage and compatibility reports (docs/analytics.md)."""
