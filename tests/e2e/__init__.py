"""End-to-end tests: every tier as a real process, together."""
