"""The device daemon: backend manager, ST-1/ST-2 calls, Zeroconf, choosing, tunnels, HTTP API."""
