"""Shared pytest configuration: registers the real-program harness fixtures."""

pytest_plugins = ["tests.harness.plugin"]
