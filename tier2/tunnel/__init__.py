"""The WireGuard gateway devices tunnel into: peers, addresses, usage."""
