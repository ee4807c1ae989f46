"""Sinfonia's test suite."""
