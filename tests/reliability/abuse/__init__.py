"""Abuse: every misuse is refused with a 4xx problem body and leaves the state unchanged."""
