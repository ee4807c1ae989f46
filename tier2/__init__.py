"""Sinfonia Tier-2 service."""

from common import __version__

__all__ = ["__version__"]
