"""Faults: real components killed, restarted, cut off or slowed; nothing is lost."""
