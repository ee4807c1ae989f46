"""ST-1's HTTP API: the native v2 routes and the original's v1 routes."""
