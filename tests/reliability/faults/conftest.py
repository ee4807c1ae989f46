"""Fixtures of the fault tests: the real services as processes, stopped at the end."""

from tests.reliability.faults.services import services

__all__ = ["services"]
