"""Reliability and security: faults with real components, abuse, fuzzing, properties."""
