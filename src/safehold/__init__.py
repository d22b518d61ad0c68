"""Safehold: a privacy policy made true by construction."""

__version__ = "0.1.0"
