"""The backend manager: `deploy_backend` end to end, handoff, release, the active backends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import AnyHttpUrl

from common.deployment import Deployment
from common.device import DeviceContext
from common.errors import (
    DeploymentNotFoundError,
    InvalidRequestError,
    NoEligibleCloudletError,
    SinfoniaError,
)
from common.types import AppId
from tier3.context import DeviceContextSource
from tier3.daemon.chooser import Candidate, merge_candidates, probe_candidates, rank
from tier3.daemon.discovery import Discovery
from tier3.daemon.peers import Peers, gather_outcomes
from tier3.daemon.tunnel import ActiveTunnel, TunnelDriver
from tier3.errors import PeerUnreachableError, TunnelError
from tier3.keys import KeyPair, KeyStore
from tier3.schema import (
    Backend,
    BackendSource,
    DeployBackendRequest,
    JitCloudlet,
    Strategy,
    Tier1Api,
)
from tier3.settings import Tier3Settings

logger = logging.getLogger(__name__)

#: Just-in-time cloudlets asked at once, at most.
MAX_JIT_CANDIDATES = 3
#: Longest a caller may wait for a backend to change.
MAX_WAIT_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class _Active:
    backend: Backend
    tunnel: ActiveTunnel
    keypair: KeyPair
    tier1_url: str | None
    tier1_api: Tier1Api


@dataclass(frozen=True, slots=True)
class _Plan:
    """A deploy request with the daemon's settings filled in."""

    tier1_url: str | None
    tier1_api: Tier1Api
    strategy: Strategy
    results: int
    discover: bool
    static_scoping: bool


class Metrics:
    """`sinfonia_tier3_*` metrics; labels are low-cardinality only (never an app or a key)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deploys = Counter(
            "sinfonia_tier3_deploys_total",
            "deploy_backend calls by outcome (ok or the problem slug).",
            ["outcome"],
            registry=registry,
        )
        self.deploy_seconds = Histogram(
            "sinfonia_tier3_deploy_seconds",
            "Time to a usable backend, tunnel included.",
            ["strategy"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.active = Gauge(
            "sinfonia_tier3_active_backends", "Backends with a tunnel up.", registry=registry
        )
        self.releases = Counter(
            "sinfonia_tier3_releases_total",
            "Remote releases by outcome (ok or failed; failures are left to lease expiry).",
            ["outcome"],
            registry=registry,
        )


class BackendManager:
    """Gets apps backends and owns their tunnels: one active backend per app UUID.

    Calls for one app are serialised; calls for different apps run concurrently.
    """

    def __init__(
        self,
        *,
        settings: Tier3Settings,
        peers: Peers,
        keys: KeyStore,
        context: DeviceContextSource,
        tunnels: TunnelDriver,
        discovery: Discovery | None,
        metrics: Metrics,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.peers = peers
        self.keys = keys
        self.context = context
        self.tunnels = tunnels
        self.discovery = discovery
        self.metrics = metrics
        self._rng = rng or random.Random()  # noqa: S311 - spreading load, not cryptography
        self._active: dict[AppId, _Active] = {}
        self._locks: dict[AppId, asyncio.Lock] = {}
        self._changed = asyncio.Condition()
        self._background: set[asyncio.Task[None]] = set()

    # --- the API ---------------------------------------------------------------------------------

    async def deploy_backend(self, request: DeployBackendRequest) -> Backend:
        """Find, choose and tunnel to a backend for `request.app`; a repeat call hands off."""
        plan = self._plan(request)
        started = time.perf_counter()
        try:
            async with self._lock(request.app):
                backend = await self._deploy(request.app, plan)
        except SinfoniaError as exc:
            self.metrics.deploys.labels(outcome=exc.slug).inc()
            raise
        self.metrics.deploys.labels(outcome="ok").inc()
        self.metrics.deploy_seconds.labels(strategy=plan.strategy.value).observe(
            time.perf_counter() - started
        )
        return backend

    def get_backends(self) -> list[Backend]:
        return [active.backend for active in self._active.values()]

    def get_backend(self, app: AppId) -> Backend:
        active = self._active.get(app)
        if active is None:
            raise DeploymentNotFoundError(f"app {app} has no active backend on this device")
        return active.backend

    async def wait_for_backend(self, app: AppId, *, after: int, wait_timeout: float) -> Backend:
        """The app's backend once its generation passes `after`, or the current one at timeout."""
        wait_timeout = min(wait_timeout, MAX_WAIT_TIMEOUT)

        def changed() -> bool:
            active = self._active.get(app)
            return active is None or active.backend.generation > after

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_timeout):
                    await self._changed.wait_for(changed)
        return self.get_backend(app)

    async def release_backend(self, app: AppId) -> bool:
        """Tear the tunnel down, release the deployments; False if no peer confirmed the release."""
        async with self._lock(app):
            active = self._active.pop(app, None)
            if active is None:
                raise DeploymentNotFoundError(f"app {app} has no active backend on this device")
            self.metrics.active.set(len(self._active))
            await self._notify()
            await self._tear_down(active.tunnel)
            return await self._release_everywhere(active)

    def get_cloudlets(self) -> list[JitCloudlet]:
        return self.discovery.get_cloudlets() if self.discovery is not None else []

    async def close(self, *, release: bool = True) -> None:
        """Stop: release every backend (unless told not to) and finish background releases.

        Bounded by the shutdown timeout; whatever is left then expires with its lease.
        With `release=False` the deployments and config-only files are kept (the
        CLI's `--config-only` hands them to the user).
        """
        try:
            async with asyncio.timeout(self.settings.shutdown_timeout):
                if release:
                    await asyncio.gather(
                        *(self.release_backend(app) for app in list(self._active)),
                        return_exceptions=True,
                    )
                if self._background:
                    await asyncio.gather(*self._background, return_exceptions=True)
        except TimeoutError:
            logger.warning("shutdown timeout: leaving remaining releases to lease expiry")
        for task in list(self._background):
            task.cancel()
        if release:
            for active in list(self._active.values()):
                await self._tear_down(active.tunnel)
        self._active.clear()
        self.metrics.active.set(0)

    # --- deploy steps ---------------------------------------------------------------------------

    def _plan(self, request: DeployBackendRequest) -> _Plan:
        settings = self.settings
        discover = request.discover if request.discover is not None else self.discovery is not None
        if discover and self.discovery is None:
            raise InvalidRequestError(
                "Zeroconf discovery is off on this device: configure discovery interfaces"
            )
        tier1_url = request.tier1_url or settings.tier1.url
        if tier1_url is None and not discover:
            raise InvalidRequestError("no ST-1 URL was given and none is configured")
        return _Plan(
            tier1_url=str(tier1_url) if tier1_url is not None else None,
            tier1_api=request.tier1_api or settings.tier1.api,
            strategy=request.strategy or settings.choice.strategy,
            results=request.results or settings.tier1.results,
            discover=discover,
            static_scoping=(
                request.static_scoping
                if request.static_scoping is not None
                else settings.discovery.static_scoping
            ),
        )

    async def _deploy(self, app: AppId, plan: _Plan) -> Backend:
        keypair = await asyncio.to_thread(self.keys.load_keypair, app)
        device = await asyncio.to_thread(self.context.get_context)
        candidates = await self._gather_candidates(app, keypair, device, plan)
        ranked = await self._rank(candidates, plan.strategy)
        previous = self._active.get(app)
        chosen, tunnel = await self._bring_up(ranked, keypair, previous, plan)
        generation = 1
        if previous is not None:
            # A renewal keeps the generation; a new deployment or a new tunnel is a change.
            renewed = tunnel is previous.tunnel
            generation = previous.backend.generation + (0 if renewed else 1)
        backend = Backend(
            app=app,
            generation=generation,
            source=chosen.source,
            tier1_url=AnyHttpUrl(plan.tier1_url) if plan.tier1_url else None,
            strategy=plan.strategy,
            deployment=chosen.deployment,
            tunnel=tunnel.state(),
            activated=datetime.now(UTC),
            candidates=len(ranked),
        )
        self._active[app] = _Active(backend, tunnel, keypair, plan.tier1_url, plan.tier1_api)
        self.metrics.active.set(len(self._active))
        await self._notify()
        # Make before break: the old tunnel goes only now that the new one is up.
        if previous is not None and previous.tunnel is not tunnel:
            await self._tear_down(previous.tunnel)
            logger.info(
                "app %s handed off from %s to %s",
                app,
                previous.backend.deployment.cloudlet,
                chosen.deployment.cloudlet,
                extra={"app": str(app)},
            )
        unchosen = [candidate for candidate in ranked if candidate.key != chosen.key]
        if previous is not None and _key(previous.backend.deployment) != chosen.key:
            unchosen.append(Candidate(previous.backend.deployment, previous.backend.source))
        if unchosen:
            tier1 = None if plan.tier1_url is None else (plan.tier1_url, plan.tier1_api)
            self._spawn(self._release_unchosen(unchosen, keypair, chosen.key, tier1))
        return backend

    async def _gather_candidates(
        self, app: AppId, keypair: KeyPair, device: DeviceContext, plan: _Plan
    ) -> list[Candidate]:
        reasons: dict[str, list[str]] = {}
        if not plan.discover and plan.tier1_url is not None:
            return await self._tier1_candidates(app, keypair, device, plan, plan.tier1_url)
        if not plan.discover or plan.static_scoping or plan.tier1_url is None:
            jit = await self._jit_candidates(app, keypair, device, reasons)
            if jit:
                return jit
            if plan.tier1_url is None:
                raise NoEligibleCloudletError(
                    "no just-in-time cloudlet answered on the local network and no ST-1 URL "
                    "is configured",
                    reasons,
                )
            return await self._tier1_candidates(app, keypair, device, plan, plan.tier1_url)
        jit_outcome, tier1_outcome = await gather_outcomes(
            [
                self._jit_candidates(app, keypair, device, reasons),
                self._tier1_candidates(app, keypair, device, plan, plan.tier1_url),
            ]
        )
        if isinstance(tier1_outcome, SinfoniaError):
            if isinstance(jit_outcome, list) and jit_outcome:
                logger.warning("ST-1 failed (%s); using just-in-time cloudlets only", tier1_outcome)
                return jit_outcome
            raise tier1_outcome
        jit = jit_outcome if isinstance(jit_outcome, list) else []
        return merge_candidates(jit, tier1_outcome)

    async def _tier1_candidates(
        self, app: AppId, keypair: KeyPair, device: DeviceContext, plan: _Plan, tier1_url: str
    ) -> list[Candidate]:
        deployments = await self.peers.fetch_tier1_deployments(
            tier1_url,
            app=app,
            public_key=keypair.public_key,
            device=device,
            results=plan.results,
            api=plan.tier1_api,
        )
        candidates = merge_candidates(
            [Candidate(deployment, BackendSource.TIER1) for deployment in deployments]
        )
        if not candidates:
            raise NoEligibleCloudletError("ST-1 returned no deployment")
        return candidates

    async def _jit_candidates(
        self,
        app: AppId,
        keypair: KeyPair,
        device: DeviceContext,
        reasons: dict[str, list[str]],
    ) -> list[Candidate]:
        if self.discovery is None:
            return []
        cloudlets = await self.discovery.fetch_cloudlets(self.settings.discovery.browse_timeout)
        cloudlets = cloudlets[:MAX_JIT_CANDIDATES]
        outcomes = await gather_outcomes(
            [
                self.peers.deploy_on_cloudlet(
                    str(cloudlet.api), app=app, public_key=keypair.public_key, device=device
                )
                for cloudlet in cloudlets
            ]
        )
        candidates: list[Candidate] = []
        for cloudlet, outcome in zip(cloudlets, outcomes, strict=True):
            if isinstance(outcome, Deployment):
                candidates.append(Candidate(outcome, BackendSource.JIT))
                continue
            reasons.setdefault("jit", []).append(f"{cloudlet.name}: {outcome}")
            if isinstance(outcome, PeerUnreachableError):
                self.discovery.forget(cloudlet.name)
            else:
                logger.warning("just-in-time cloudlet %s refused: %s", cloudlet.name, outcome)
        return candidates

    async def _rank(self, candidates: list[Candidate], strategy: Strategy) -> list[Candidate]:
        if len(candidates) < 2:
            return list(candidates)  # nothing to order (and nothing worth probing)
        if strategy is not Strategy.PROBE:
            return rank(candidates, strategy, rng=self._rng)
        probes = await probe_candidates(
            candidates,
            http=self.peers.http,
            probe_timeout=self.settings.choice.probe_timeout,
            samples=self.settings.choice.probe_samples,
        )
        return rank(candidates, strategy, rng=self._rng, probes=probes)

    async def _bring_up(
        self, ranked: list[Candidate], keypair: KeyPair, previous: _Active | None, plan: _Plan
    ) -> tuple[Candidate, ActiveTunnel]:
        """The tunnel to the best candidate that works, trying each in turn."""
        failures: list[str] = []
        for candidate in ranked:
            if (
                previous is not None
                and candidate.key == _key(previous.backend.deployment)
                and candidate.deployment.tunnel == previous.backend.deployment.tunnel
            ):
                return candidate, previous.tunnel  # a renewal: the tunnel stays as it is
            try:
                tunnel = await self.tunnels.bring_up(keypair, candidate.deployment.tunnel)
            except TunnelError as exc:
                logger.warning("tunnel to %s failed: %s", candidate.deployment.cloudlet, exc)
                failures.append(f"{candidate.deployment.cloudlet_name or candidate.key[0]}: {exc}")
                continue
            return candidate, tunnel
        # Nothing usable: give every deployment back rather than leave them running.
        tier1 = None if plan.tier1_url is None else (plan.tier1_url, plan.tier1_api)
        self._spawn(self._release_unchosen(ranked, keypair, None, tier1))
        raise TunnelError("; ".join(failures) or "no candidate to tunnel to")

    # --- release --------------------------------------------------------------------------------

    async def _release_everywhere(self, active: _Active) -> bool:
        public_key = active.keypair.public_key
        app = active.backend.app
        try:
            if active.tier1_url is not None and active.backend.source is BackendSource.TIER1:
                await self.peers.release_tier1(
                    active.tier1_url, app=app, public_key=public_key, api=active.tier1_api
                )
            else:
                endpoint = active.backend.deployment.cloudlet_endpoint
                if endpoint is None:
                    return False
                await self.peers.release_on_cloudlet(str(endpoint), app=app, public_key=public_key)
        except SinfoniaError as exc:
            self.metrics.releases.labels(outcome="failed").inc()
            logger.warning("release of app %s not confirmed (%s); its lease will expire", app, exc)
            return False
        self.metrics.releases.labels(outcome="ok").inc()
        return True

    async def _release_unchosen(
        self,
        candidates: list[Candidate],
        keypair: KeyPair,
        keep: tuple[str, str] | None,
        tier1: tuple[str, Tier1Api] | None,
    ) -> None:
        """Release deployments the app will not use: ST-1's through ST-1, one cloudlet at a
        time; just-in-time ones on their ST-2. Those of a v1 ST-1 just expire."""
        calls: list[Coroutine[Any, Any, None]] = []
        released: set[tuple[str, str]] = set()
        for candidate in candidates:
            if candidate.key == keep or candidate.key in released:
                continue
            deployment = candidate.deployment
            endpoint = deployment.cloudlet_endpoint
            if candidate.source is BackendSource.TIER1:
                if tier1 is None or tier1[1] is not Tier1Api.V2:
                    continue
                call = self.peers.release_tier1_on(
                    tier1[0],
                    app=deployment.app,
                    public_key=keypair.public_key,
                    cloudlet=deployment.cloudlet,
                )
            elif endpoint is not None:
                call = self.peers.release_on_cloudlet(
                    str(endpoint), app=deployment.app, public_key=keypair.public_key
                )
            else:
                continue
            released.add(candidate.key)
            calls.append(call)
        for outcome in await gather_outcomes(calls):
            if isinstance(outcome, SinfoniaError):
                self.metrics.releases.labels(outcome="failed").inc()
                logger.info("unchosen deployment not released (%s); its lease will expire", outcome)
            else:
                self.metrics.releases.labels(outcome="ok").inc()

    # --- plumbing --------------------------------------------------------------------------------

    async def _tear_down(self, tunnel: ActiveTunnel) -> None:
        try:
            await self.tunnels.tear_down(tunnel)
        except SinfoniaError as exc:
            logger.warning("tearing down tunnel %s failed: %s", tunnel.interface, exc)

    def _lock(self, app: AppId) -> asyncio.Lock:
        return self._locks.setdefault(app, asyncio.Lock())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _key(deployment: Deployment) -> tuple[str, str]:
    return (str(deployment.cloudlet), deployment.name)
