"""Registration, keepalives and deregistration: the only ways rows enter or change the table."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from common.cloudlet import (
    IPV4_ANY,
    IPV6_ANY,
    CloudletMetrics,
    KeepaliveResponse,
    RegistrationRequest,
    RegistrationResponse,
)
from common.errors import (
    CloudletNotFoundError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    UnauthorizedError,
)
from common.types import CloudletId
from common.v1 import CloudletInfoV1
from tier1.admission import admit, digest, negotiate, new_credential, verify
from tier1.metrics import Tier1Metrics
from tier1.netmatch import net_keys
from tier1.records import CloudletRecord, Load
from tier1.settings import AdmissionSettings, KeepaliveSettings
from tier1.table.interface import CloudletTable, TouchOutcome

logger = logging.getLogger(__name__)


class Registrar:
    """Applies the admission policy and keeps each row owned by the cloudlet that registered it."""

    def __init__(
        self,
        *,
        table: CloudletTable,
        admission: AdmissionSettings,
        keepalive: KeepaliveSettings,
        metrics: Tier1Metrics,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._admission = admission
        self._keepalive = keepalive
        self._metrics = metrics
        self._wall_clock = wall_clock

    async def register(self, request: RegistrationRequest) -> tuple[RegistrationResponse, bool]:
        """Admit the cloudlet; returns the response and whether the row is new."""
        admission = admit(self._admission, request)
        static = request.cloudlet
        existing = await self._table.get(static.uuid)
        if existing is not None and existing.public_key != static.public_key:
            raise ConflictError(
                f"cloudlet {static.uuid} is registered with another key; a restarted cloudlet"
                " must keep its key to take its row back"
            )
        terms = negotiate(self._keepalive, request.keepalive_interval)
        credential = new_credential()
        record = CloudletRecord.from_static(
            static,
            request.metrics,
            trust_level=admission.trust_level,
            operator=admission.operator,
            now=self._wall_clock(),
            keepalive_interval=terms.interval,
            ttl=terms.ttl,
            credential_digest=digest(credential),
            deploy_credential=request.deploy_credential,
        )
        await self._table.put(record)
        self._metrics.registrations.labels(outcome="new" if existing is None else "renewed").inc()
        logger.info(
            "cloudlet %s (%s) admitted, trust %d, keepalive every %.1fs",
            static.name,
            static.uuid,
            admission.trust_level,
            terms.interval,
            extra={"cloudlet": str(static.uuid)},
        )
        response = RegistrationResponse(
            uuid=static.uuid,
            keepalive_interval=terms.interval,
            ttl=terms.ttl,
            credential=credential,
            trust_level=admission.trust_level,
        )
        return response, existing is None

    async def keepalive(
        self, uuid: CloudletId, credential: str | None, metrics: CloudletMetrics
    ) -> KeepaliveResponse:
        if not credential:
            raise UnauthorizedError("a cloudlet credential (Authorization: Bearer) is required")
        touch = await self._table.touch(
            uuid, digest(credential), Load.from_metrics(metrics), self._wall_clock()
        )
        if touch.outcome is TouchOutcome.MISSING:
            raise CloudletNotFoundError(f"cloudlet {uuid} is not registered (or expired)")
        if touch.outcome is TouchOutcome.NOT_OWNER:
            raise ForbiddenError("this credential does not own that cloudlet's row")
        if touch.outcome is TouchOutcome.STATIC or touch.ttl is None:
            raise ForbiddenError("static cloudlets are configured at ST-1, not kept alive")
        self._metrics.keepalives.inc()
        return KeepaliveResponse(keepalive_interval=touch.keepalive_interval, ttl=touch.ttl)

    async def deregister(self, uuid: CloudletId, credential: str | None) -> None:
        await self._owned_row(uuid, credential)
        await self._table.remove(uuid)
        logger.info("cloudlet %s deregistered", uuid, extra={"cloudlet": str(uuid)})

    async def accept_v1_update(self, info: CloudletInfoV1) -> None:
        """An original ST-2's unauthenticated push; only where the operator allowed it."""
        if not (self._admission.accept_v1_updates and self._admission.policy == "open"):
            raise ForbiddenError(
                "unauthenticated v1 cloudlet updates are disabled; register through /api/v2"
            )
        record = v1_record(
            info,
            now=self._wall_clock(),
            interval=self._keepalive.min_interval,
            ttl=self._keepalive.max_interval * self._keepalive.ttl_multiplier,
            trust_level=self._admission.default_trust_level,
        )
        existing = await self._table.get(record.uuid)
        if existing is not None and existing.credential_digest:
            raise ForbiddenError("this row belongs to a registered cloudlet")
        await self._table.put(record)

    async def _owned_row(self, uuid: CloudletId, credential: str | None) -> CloudletRecord:
        if not credential:
            # Before the lookup, so an anonymous caller learns nothing about the table.
            raise UnauthorizedError("a cloudlet credential (Authorization: Bearer) is required")
        record = await self._table.get(uuid)
        if record is None:
            raise CloudletNotFoundError(f"cloudlet {uuid} is not registered (or expired)")
        verify(credential, record.credential_digest)
        return record


def v1_record(
    info: CloudletInfoV1, *, now: float, interval: float, ttl: float | None, trust_level: int
) -> CloudletRecord:
    """A row for a cloudlet described in the original's `CloudletInfo` shape (no key, no owner)."""
    if info.uuid is None:
        raise InvalidRequestError("a v1 cloudlet must carry its uuid")
    accepted = info.accepted_clients or [IPV4_ANY, IPV6_ANY]
    return CloudletRecord(
        uuid=info.uuid,
        name=info.name or info.endpoint.host or "cloudlet",
        endpoint=str(info.endpoint),
        public_key="",
        owner=None,
        locations=tuple(location.as_pair() for location in info.locations),
        local_networks=net_keys(info.local_networks),
        accepted_clients=net_keys(accepted),
        rejected_clients=net_keys(info.rejected_clients),
        cpu_cores=0,
        memory_bytes=0,
        gpus=(),
        network_bytes_per_second=None,
        load=Load(cpu=info.resources.get("cpu_ratio"), memory=info.resources.get("mem_ratio")),
        trust_level=trust_level,
        operator=None,
        last_update=now,
        keepalive_interval=interval,
        ttl=ttl,
    )
