"""Benchmarks: runnable modules that print one JSON line of figures each."""
