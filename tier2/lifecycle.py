"""Lease decisions: Deployed → Expiring → Expired, from lease time and tunnel use (pure).

A deployment whose lease has run out is kept alive while its device's tunnel
shows use (a recent handshake or new bytes received). When that signal is
unavailable this round, nothing changes: a monitoring outage never expires
anything. With no tunnel at all (config-only mode), the lease alone decides.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from common.deployment import DeploymentStatus
from tier2.records import DeploymentRecord


@dataclass(frozen=True, slots=True)
class PeerUsage:
    """What the tunnel reports for one device key."""

    latest_handshake: datetime | None
    rx_bytes: int


@dataclass(frozen=True, slots=True)
class Activity:
    """What is known of a device key's use of its tunnel this round."""

    tracked: bool
    known: bool
    last_active: datetime | None = None


UNTRACKED = Activity(tracked=False, known=True)
"""There is no tunnel signal by configuration: the lease alone decides."""

UNKNOWN = Activity(tracked=True, known=False)
"""The signal failed this round: decide nothing."""


@dataclass(frozen=True, slots=True)
class Readings:
    """Activity per device key this round; a key the tunnel does not list has `default`."""

    default: Activity
    by_key: Mapping[str, Activity] = field(default_factory=dict)

    def of(self, client_key: str) -> Activity:
        return self.by_key.get(client_key, self.default)


NO_TUNNEL = Readings(default=UNTRACKED)
"""Readings when the cloudlet has no tunnel to read."""

SIGNAL_LOST = Readings(default=UNKNOWN)
"""Readings when reading the tunnel failed."""


class Action(enum.Enum):
    KEEP = "keep"
    RENEW = "renew"
    START_EXPIRING = "start-expiring"
    REVIVE = "revive"
    EXPIRE = "expire"


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    idle_timeout: float
    expiring_grace: float


def decide(
    record: DeploymentRecord, activity: Activity, now: datetime, policy: LeasePolicy
) -> Action:
    """What the collector does with `record` now."""
    if record.status is DeploymentStatus.INITIALIZING:
        return Action.KEEP
    if record.status is DeploymentStatus.EXPIRED:
        return Action.EXPIRE  # reclaiming failed earlier: try again
    active = (
        activity.tracked
        and activity.known
        and activity.last_active is not None
        and now - activity.last_active < timedelta(seconds=policy.idle_timeout)
    )
    if record.status is DeploymentStatus.DEPLOYED:
        if now < record.expires:
            return Action.KEEP
        if active:
            return Action.RENEW
        if not activity.known:
            return Action.KEEP
        return Action.START_EXPIRING
    # Expiring
    if active:
        return Action.REVIVE
    if not activity.known:
        return Action.KEEP
    since = record.expiring_since or record.expires
    if now - since >= timedelta(seconds=policy.expiring_grace):
        return Action.EXPIRE
    return Action.KEEP


class ActivityTracker:
    """Turns successive tunnel readings into the last time each device key was active.

    New bytes received since the previous reading count as activity now; a
    handshake counts at its own time. The tracker remembers across rounds, so
    an idle peer's old byte counter is not mistaken for fresh traffic.
    """

    def __init__(self) -> None:
        self._rx: dict[str, int] = {}
        self._last_active: dict[str, datetime] = {}

    def observe(self, usage: Mapping[str, PeerUsage], now: datetime) -> Readings:
        """Fold in a successful reading of every peer of the tunnel."""
        for key, peer in usage.items():
            previous = self._rx.get(key)
            if previous is not None and peer.rx_bytes > previous:
                self._bump(key, now)
            self._rx[key] = peer.rx_bytes
            if peer.latest_handshake is not None:
                self._bump(key, min(peer.latest_handshake, now))
        for gone in set(self._rx) - set(usage):
            del self._rx[gone]
            self._last_active.pop(gone, None)
        return Readings(
            default=Activity(tracked=True, known=True),
            by_key={key: Activity(True, True, self._last_active.get(key)) for key in usage},
        )

    def _bump(self, key: str, when: datetime) -> None:
        current = self._last_active.get(key)
        if current is None or when > current:
            self._last_active[key] = when
