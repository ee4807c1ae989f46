"""Helpers the tests of several tiers share: serving real ASGI apps on loopback."""
