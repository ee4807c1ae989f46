"""Smoke test: the redis_server fixture serves a real Redis through the redis client."""

from __future__ import annotations

import time

import pytest
import redis

from tests.harness.redis_server import RedisServer

pytestmark = pytest.mark.redis


def test_set_with_expiry_and_get_back(redis_server: RedisServer) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.set("harness:greeting", "hello", ex=30)
        assert client.get("harness:greeting") == b"hello"
        assert 0 < client.ttl("harness:greeting") <= 30
        client.delete("harness:greeting")


def test_key_expires_and_ttl_reports_it(redis_server: RedisServer) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        client.set("harness:short", "gone soon", px=300)
        assert client.pttl("harness:short") > 0
        deadline = time.monotonic() + 5
        while client.exists("harness:short") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("harness:short") is None
        assert client.ttl("harness:short") == -2  # -2: the key does not exist (any more)
        client.set("harness:forever", "1")
        assert client.ttl("harness:forever") == -1  # -1: the key has no expiry
        client.delete("harness:forever")
