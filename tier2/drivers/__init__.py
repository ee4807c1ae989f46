"""Cluster drivers: where and how recipe backends run (Kubernetes, or local processes)."""
