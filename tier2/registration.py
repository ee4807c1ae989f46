"""Registration with each configured ST-1, independently: admit, keep alive, re-register, leave.

Each ST-1 gets a session with its own credential, negotiated interval and
deploy credential (the bearer token it must show when it asks us to deploy).
A session does not register before the cluster can deploy. What to do after
each call is decided by `next_round`, a pure function.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from common.cloudlet import (
    CloudletMetrics,
    CloudletStatic,
    Keepalive,
    RegistrationRequest,
    RegistrationResponse,
)
from common.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    SinfoniaError,
    UnauthorizedError,
)
from common.service.retry import Backoff
from tier2.instruments import Instruments
from tier2.tier1_client import Tier1Client

logger = logging.getLogger(__name__)


class Outcome(enum.Enum):
    NOT_READY = "not-ready"
    REGISTERED = "registered"
    KEPT_ALIVE = "kept-alive"
    FORGOTTEN = "forgotten"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Round:
    """What follows a call: failures in a row so far, and seconds until the next call."""

    failures: int
    delay: float


@dataclass(frozen=True, slots=True)
class RoundPolicy:
    backoff: Backoff
    ready_poll_interval: float


def next_round(
    outcome: Outcome,
    *,
    failures: int,
    interval: float,
    policy: RoundPolicy,
    rng: random.Random,
) -> Round:
    """When to call ST-1 next. Pure: the session applies it, tests check it without sleeping."""
    if outcome in (Outcome.REGISTERED, Outcome.KEPT_ALIVE):
        return Round(0, interval * rng.uniform(0.9, 1.0))
    if outcome is Outcome.NOT_READY:
        return Round(failures, policy.ready_poll_interval)
    if outcome is Outcome.FORGOTTEN:
        # Register again at once; if ST-1 keeps forgetting us, back off like any failure.
        delay = 0.0 if failures == 0 else policy.backoff.delay(failures, rng)
        return Round(failures + 1, delay)
    if outcome is Outcome.REFUSED:
        return Round(failures + 1, policy.backoff.maximum * rng.uniform(0.5, 1.0))
    return Round(failures + 1, policy.backoff.delay(failures + 1, rng))


StaticInfo = Callable[[], Awaitable[CloudletStatic]]
Readiness = Callable[[], Awaitable[None]]
MetricsNow = Callable[[float | None], CloudletMetrics]


class Tier1Session:
    """The relationship with one ST-1."""

    def __init__(
        self,
        *,
        client: Tier1Client,
        requested_interval: float,
        registration_token: str | None,
        static_info: StaticInfo,
        cluster_ready: Readiness,
        metrics: MetricsNow,
        policy: RoundPolicy,
        instruments: Instruments,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.deploy_credential = secrets.token_urlsafe(32)
        self.registration: RegistrationResponse | None = None
        self.ever_registered = False
        self.last_outcome: Outcome | None = None
        self._requested_interval = requested_interval
        self._registration_token = registration_token
        self._static_info = static_info
        self._cluster_ready = cluster_ready
        self._metrics = metrics
        self._policy = policy
        self._instruments = instruments
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._failures = 0
        self._rtt: float | None = None

    @property
    def url(self) -> str:
        return self.client.base_url

    async def step(self) -> float:
        """One call to ST-1 (register or keepalive); returns seconds until the next."""
        outcome = await (self._keepalive() if self.registration else self._register())
        self.last_outcome = outcome
        interval = self.registration.keepalive_interval if self.registration else 0.0
        planned = next_round(
            outcome,
            failures=self._failures,
            interval=interval,
            policy=self._policy,
            rng=self._rng,
        )
        self._failures = planned.failures
        return planned.delay

    async def deregister(self) -> None:
        registration, self.registration = self.registration, None
        if registration is None:
            return
        try:
            await self.client.deregister(registration.uuid, registration.credential)
        except SinfoniaError as exc:
            self._instruments.count_call("deregister", "failed")
            logger.warning("deregistering from %s failed: %s", self.url, exc)
            return
        self._instruments.count_call("deregister", "ok")
        logger.info("deregistered from %s", self.url)

    async def _register(self) -> Outcome:
        try:
            await self._cluster_ready()
            static = await self._static_info()
        except SinfoniaError as exc:
            logger.info("not registering with %s yet, the cluster is not ready: %s", self.url, exc)
            return Outcome.NOT_READY
        request = RegistrationRequest(
            cloudlet=static,
            keepalive_interval=self._requested_interval,
            registration_token=self._registration_token,
            deploy_credential=self.deploy_credential,
            metrics=self._metrics(self._rtt),
        )
        started = time.monotonic()
        try:
            response = await self.client.register(request)
        except (UnauthorizedError, ForbiddenError, ConflictError) as exc:
            self._instruments.count_call("register", "refused")
            logger.error("%s refused to admit this cloudlet: %s", self.url, exc)
            return Outcome.REFUSED
        except SinfoniaError as exc:
            self._instruments.count_call("register", "failed")
            logger.warning("registering with %s failed: %s", self.url, exc)
            return Outcome.FAILED
        self._rtt = time.monotonic() - started
        self.registration = response
        self.ever_registered = True
        self._instruments.count_call("register", "ok")
        logger.info(
            "registered with %s: keepalive every %gs, trust level %d",
            self.url,
            response.keepalive_interval,
            response.trust_level,
        )
        return Outcome.REGISTERED

    async def _keepalive(self) -> Outcome:
        registration = self.registration
        if registration is None:  # pragma: no cover - step() only calls this when registered
            return Outcome.FORGOTTEN
        started = time.monotonic()
        try:
            response = await self.client.keepalive(
                registration.uuid,
                registration.credential,
                Keepalive(metrics=self._metrics(self._rtt)),
            )
        except (NotFoundError, UnauthorizedError, ForbiddenError) as exc:
            self._instruments.count_call("keepalive", "forgotten")
            logger.warning(
                "%s no longer knows this cloudlet (%s); registering again", self.url, exc
            )
            self.registration = None
            return Outcome.FORGOTTEN
        except SinfoniaError as exc:
            self._instruments.count_call("keepalive", "failed")
            logger.warning("keepalive to %s failed: %s", self.url, exc)
            return Outcome.FAILED
        self._rtt = time.monotonic() - started
        self._instruments.count_call("keepalive", "ok")
        self.registration = registration.model_copy(
            update={"keepalive_interval": response.keepalive_interval, "ttl": response.ttl}
        )
        return Outcome.KEPT_ALIVE


class Registrations:
    """Every ST-1 session; answers which ST-1 a deploy credential belongs to."""

    def __init__(self, sessions: Sequence[Tier1Session]) -> None:
        self.sessions = list(sessions)

    def tier1_for(self, token: str) -> str | None:
        """The ST-1 that was given `token`, if it is one we registered with."""
        found = None
        for session in self.sessions:
            # Compare against every session, so timing does not tell which one matched.
            if secrets.compare_digest(session.deploy_credential, token) and session.ever_registered:
                found = session.url
        return found

    async def deregister_all(self, time_limit: float) -> None:
        try:
            async with asyncio.timeout(time_limit):
                await asyncio.gather(*(session.deregister() for session in self.sessions))
        except TimeoutError:
            logger.warning("deregistration did not finish within %gs", time_limit)
