"""Pytest harness that starts real programs (Kubernetes, Prometheus, Redis, netns) for tests."""
