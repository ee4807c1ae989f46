"""The deployment manager: deploy (or renew), release and collect, over a driver and a tunnel.

The cluster is the source of truth; this index is rebuilt from it at start
(`start`) and kept in step with every change. A cold deploy runs as a task of
its own: a second request for the same app and key joins it instead of
starting another, and a caller that gives up does not interrupt it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common.deployment import DeploymentStatus
from common.device import DeviceContext
from common.errors import ConflictError, DeploymentNotFoundError, SinfoniaError
from common.recipe import Recipe
from common.types import AppId, IPAddress
from tier2.drivers.interface import ClusterDriver
from tier2.instruments import Instruments
from tier2.lifecycle import (
    NO_TUNNEL,
    SIGNAL_LOST,
    Action,
    ActivityTracker,
    LeasePolicy,
    Readings,
    decide,
)
from tier2.peers import PeerTable
from tier2.records import CreateRequest, DeploymentKey, DeploymentRecord, Placement

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DeployOutcome:
    record: DeploymentRecord
    created: bool


class DeploymentManager:
    """Owns the index of deployments, the client address pool and the tunnel's peers."""

    def __init__(
        self,
        *,
        driver: ClusterDriver,
        peers: PeerTable,
        policy: LeasePolicy,
        max_lease: float,
        max_concurrent: int,
        instruments: Instruments,
        clock: Clock = utc_now,
    ) -> None:
        self.driver = driver
        self.peers = peers
        self._policy = policy
        self._max_lease = max_lease
        self._slots = asyncio.Semaphore(max_concurrent)
        self._instruments = instruments
        self._clock = clock
        self._records: dict[DeploymentKey, DeploymentRecord] = {}
        self._inflight: dict[DeploymentKey, asyncio.Task[DeploymentRecord]] = {}
        self._locks: dict[DeploymentKey, asyncio.Lock] = {}
        self._tracker = ActivityTracker()

    # -- reading -----------------------------------------------------------------------

    def get(self, key: DeploymentKey) -> DeploymentRecord:
        record = self._records.get(key)
        if record is None:
            raise DeploymentNotFoundError(f"no deployment of app {key.app} for this key")
        return record

    def records(self) -> list[DeploymentRecord]:
        return list(self._records.values())

    def apps(self) -> list[AppId]:
        """Apps with a backend here, for keepalives."""
        return sorted({key.app for key in self._records}, key=str)

    def key_at(self, address: IPAddress) -> str | None:
        """The device key whose tunnel address is `address`, if any."""
        return self.peers.owner_of(address)

    # -- start and stop ----------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild the index, the address pool and the tunnel's peers from the cluster."""
        for record in await self.driver.rediscover():
            if record.status is DeploymentStatus.INITIALIZING:
                logger.info("removing %s, left half-created by an earlier run", record.name)
                await self.driver.delete(record.name)
                continue
            try:
                self.peers.claim(record.key.client_key, record.client_address.ip)
            except ConflictError as exc:
                logger.warning("removing %s: %s", record.name, exc)
                await self.driver.delete(record.name)
                continue
            self._records[record.key] = record
        await self.peers.sync()
        self._instruments.track(self._records.values())
        logger.info("found %d deployment(s) on the cluster", len(self._records))

    async def aclose(self) -> None:
        """Stop cold deploys still running (they clean up after themselves); keep the rest."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.peers.aclose()

    # -- deploy, renew, release ----------------------------------------------------------

    async def deploy(
        self, key: DeploymentKey, recipe: Recipe, device: DeviceContext
    ) -> DeployOutcome:
        """Renew the deployment of `key` if there is one, else create it (once)."""
        started = asyncio.get_running_loop().time()
        async with self._lock(key):
            existing = self._records.get(key)
            if existing is not None and existing.status is DeploymentStatus.EXPIRED:
                await self._reclaim(existing)
                existing = None
            if existing is not None and existing.status is not DeploymentStatus.INITIALIZING:
                renewed = await self._renew(existing)
                if renewed is not None:
                    self._instruments.observe_deploy("renewed", started)
                    return DeployOutcome(renewed, created=False)
            task = self._inflight.get(key)
            created = task is None
            if task is None:
                task = asyncio.create_task(self._create(key, recipe, device), name=f"deploy {key}")
                self._inflight[key] = task
                task.add_done_callback(self._forget_task(key))
        try:
            record = await asyncio.shield(task)
        except SinfoniaError:
            if created:
                self._instruments.observe_deploy("failed", started)
            raise
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and current.cancelling() == 0:
                raise ConflictError(
                    "the deployment was released while it was initializing"
                ) from None
            raise
        self._instruments.observe_deploy("created" if created else "joined", started)
        return DeployOutcome(record, created=created)

    async def release(self, key: DeploymentKey) -> None:
        """End the deployment of `key` now; an initializing one is stopped and cleaned up."""
        task = self._inflight.get(key)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return
        async with self._lock(key):
            record = self._records.get(key)
            if record is None:
                raise DeploymentNotFoundError(f"no deployment of app {key.app} for this key")
            await self._reclaim(record)

    # -- garbage collection --------------------------------------------------------------

    async def collect(self) -> None:
        """One collector round: renew what is in use, expire what is not, sweep leftovers."""
        now = self._clock()
        await self._repair_tunnel()
        readings = await self._read_tunnel(now)
        for record in list(self._records.values()):
            action = decide(record, readings.of(record.key.client_key), now, self._policy)
            if action is Action.KEEP:
                continue
            self._instruments.count_transition(action.value)
            try:
                await self._apply(record, action, now)
            except SinfoniaError as exc:
                logger.warning("could not %s %s: %s", action.value, record.name, exc)
        self._instruments.track(self._records.values())
        for key in [key for key, lock in self._locks.items() if not lock.locked()]:
            if key not in self._records:
                del self._locks[key]
        try:
            await self.driver.sweep()
        except SinfoniaError as exc:
            logger.warning("sweep failed: %s", exc)

    async def _repair_tunnel(self) -> None:
        """A vanished tunnel interface is made again, with every deployment's peer."""
        try:
            recreated = await self.peers.tunnel.repair()
            if recreated:
                await self.peers.sync()
                logger.warning("tunnel interface recreated; its peers are set again")
        except SinfoniaError as exc:
            logger.warning("the tunnel interface is gone and could not be recreated: %s", exc)

    async def _read_tunnel(self, now: datetime) -> Readings:
        try:
            usage = await self.peers.tunnel.fetch_usage()
        except SinfoniaError as exc:
            logger.warning("tunnel usage unavailable, nothing expires this round: %s", exc)
            return SIGNAL_LOST
        return NO_TUNNEL if usage is None else self._tracker.observe(usage, now)

    async def _apply(self, record: DeploymentRecord, action: Action, now: datetime) -> None:
        async with self._lock(record.key):
            if self._records.get(record.key) is not record:
                return  # changed while we decided
            if action in (Action.RENEW, Action.REVIVE):
                await self._store(record.renewed(now))
            elif action is Action.START_EXPIRING:
                await self._store(record.expiring(now))
            elif action is Action.EXPIRE:
                logger.info("deployment %s expired", record.name)
                expired = dataclasses.replace(record, status=DeploymentStatus.EXPIRED)
                self._records[record.key] = expired
                await self._reclaim(expired)

    # -- helpers -------------------------------------------------------------------------

    async def _renew(self, record: DeploymentRecord) -> DeploymentRecord | None:
        """The renewed record, or None when the cluster lost it (then it is deployed anew)."""
        try:
            return await self._store(record.renewed(self._clock()))
        except DeploymentNotFoundError:
            logger.warning("deployment %s vanished from the cluster; deploying again", record.name)
            del self._records[record.key]
            await self.peers.release(record.key.client_key)
            return None

    async def _store(self, record: DeploymentRecord) -> DeploymentRecord:
        await self.driver.update(record)
        self._records[record.key] = record
        return record

    async def _create(
        self, key: DeploymentKey, recipe: Recipe, device: DeviceContext
    ) -> DeploymentRecord:
        async with self._slots:
            now = self._clock()
            lease = min(recipe.lease_seconds, self._max_lease)
            address = await self.peers.hold(key.client_key)
            name = self.driver.new_name(recipe)
            request = CreateRequest(
                key=key,
                name=name,
                recipe=recipe,
                device=device,
                client_address=address,
                created=now,
                expires=now + timedelta(seconds=lease),
                lease_seconds=lease,
            )
            self._records[key] = _placeholder(request)
            try:
                record = await self.driver.create(request)
            except BaseException:
                self._records.pop(key, None)
                await asyncio.shield(self.peers.release(key.client_key))
                raise
            self._records[key] = record
            self._instruments.track(self._records.values())
            logger.info("deployed %s for app %s", name, key.app, extra={"deployment": name})
            return record

    async def _reclaim(self, record: DeploymentRecord) -> None:
        await self.driver.delete(record.name)
        if self._records.get(record.key) is record:
            del self._records[record.key]
            await self.peers.release(record.key.client_key)
        self._instruments.track(self._records.values())

    def _lock(self, key: DeploymentKey) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _forget_task(self, key: DeploymentKey) -> Callable[[asyncio.Task[DeploymentRecord]], None]:
        def forget(task: asyncio.Task[DeploymentRecord]) -> None:
            if self._inflight.get(key) is task:
                del self._inflight[key]
            if not task.cancelled() and task.exception() is not None:
                logger.info("deploy for app %s failed: %s", key.app, task.exception())

        return forget


def _placeholder(request: CreateRequest) -> DeploymentRecord:
    return DeploymentRecord(
        key=request.key,
        app_name=request.recipe.name,
        status=DeploymentStatus.INITIALIZING,
        created=request.created,
        expires=request.expires,
        lease_seconds=request.lease_seconds,
        client_address=request.client_address,
        placement=Placement(name=request.name),
    )
