"""Lease decisions, table-driven and without sleeping: the collector's pure core."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from common.deployment import DeploymentStatus
from common.types import AppId
from tier2.lifecycle import (
    NO_TUNNEL,
    SIGNAL_LOST,
    UNKNOWN,
    UNTRACKED,
    Action,
    Activity,
    ActivityTracker,
    LeasePolicy,
    PeerUsage,
    decide,
)
from tier2.records import DeploymentKey, DeploymentRecord, Placement

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = LeasePolicy(idle_timeout=180.0, expiring_grace=60.0)
KEY = "A" * 43 + "="


def _record(
    status: DeploymentStatus, expires_in: float, expiring_for: float | None = None
) -> DeploymentRecord:
    return DeploymentRecord(
        key=DeploymentKey(AppId(uuid.UUID(int=1)), KEY),
        app_name="app",
        status=status,
        created=NOW - timedelta(hours=1),
        expires=NOW + timedelta(seconds=expires_in),
        lease_seconds=300.0,
        client_address=ipaddress.ip_interface("10.251.0.2/32"),
        placement=Placement(name="sf-app-1"),
        expiring_since=None if expiring_for is None else NOW - timedelta(seconds=expiring_for),
    )


def _seen(seconds_ago: float | None) -> Activity:
    when = None if seconds_ago is None else NOW - timedelta(seconds=seconds_ago)
    return Activity(tracked=True, known=True, last_active=when)


D, E, INIT, X = (
    DeploymentStatus.DEPLOYED,
    DeploymentStatus.EXPIRING,
    DeploymentStatus.INITIALIZING,
    DeploymentStatus.EXPIRED,
)


@pytest.mark.parametrize(
    ("status", "expires_in", "expiring_for", "activity", "action"),
    [
        # A lease that has not run out is kept whatever the tunnel says.
        (D, 30, None, _seen(None), Action.KEEP),
        (D, 30, None, UNKNOWN, Action.KEEP),
        # Run out and unused: start expiring; with the lease alone (no tunnel) too.
        (D, -1, None, _seen(None), Action.START_EXPIRING),
        (D, -1, None, _seen(600), Action.START_EXPIRING),
        (D, -1, None, UNTRACKED, Action.START_EXPIRING),
        # Run out but in use: renewed by the collector.
        (D, -1, None, _seen(10), Action.RENEW),
        # Run out and the signal is lost: nothing expires for lack of it.
        (D, -100, None, UNKNOWN, Action.KEEP),
        (E, -100, 3600, UNKNOWN, Action.KEEP),
        # Expiring: revived by use, reclaimed after the grace period, else kept.
        (E, -10, 10, _seen(5), Action.REVIVE),
        (E, -10, 10, _seen(None), Action.KEEP),
        (E, -70, 60, _seen(None), Action.EXPIRE),
        (E, -70, 61, UNTRACKED, Action.EXPIRE),
        # Being created: never touched. Expired: reclaimed (again, if that failed).
        (INIT, -1000, None, _seen(None), Action.KEEP),
        (X, -1000, None, UNKNOWN, Action.EXPIRE),
    ],
)
def test_decide(
    status: DeploymentStatus,
    expires_in: float,
    expiring_for: float | None,
    activity: Activity,
    action: Action,
) -> None:
    assert decide(_record(status, expires_in, expiring_for), activity, NOW, POLICY) is action


def test_new_bytes_count_as_activity_and_old_counters_do_not() -> None:
    tracker = ActivityTracker()
    first = tracker.observe({KEY: PeerUsage(latest_handshake=None, rx_bytes=500)}, NOW)
    assert first.of(KEY) == Activity(True, True, None)  # the first reading has no delta yet
    later = NOW + timedelta(seconds=30)
    same = tracker.observe({KEY: PeerUsage(latest_handshake=None, rx_bytes=500)}, later)
    assert same.of(KEY).last_active is None
    more = tracker.observe({KEY: PeerUsage(None, 900)}, later)
    assert more.of(KEY).last_active == later


def test_handshakes_count_at_their_own_time_and_unknown_peers_are_idle() -> None:
    tracker = ActivityTracker()
    handshake = NOW - timedelta(seconds=42)
    readings = tracker.observe({KEY: PeerUsage(latest_handshake=handshake, rx_bytes=0)}, NOW)
    assert readings.of(KEY).last_active == handshake
    assert readings.of("someone-else") == Activity(tracked=True, known=True, last_active=None)


def test_constant_readings_for_no_tunnel_and_a_lost_signal() -> None:
    assert NO_TUNNEL.of(KEY) is UNTRACKED
    assert SIGNAL_LOST.of(KEY) is UNKNOWN
