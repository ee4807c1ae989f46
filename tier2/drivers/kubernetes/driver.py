"""The Kubernetes driver: a namespace per deployment, with quota, isolation and the recipe."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from common.cloudlet import Gpu, Hardware
from common.deployment import DeploymentStatus
from common.errors import (
    DeploymentNotFoundError,
    InvalidRequestError,
    SinfoniaError,
    UnavailableError,
    UpstreamError,
    UpstreamTimeoutError,
)
from common.recipe import Recipe
from common.types import CloudletId, IPAddress, IPNetwork
from tier2.drivers.kubernetes import manifests, objects
from tier2.drivers.kubernetes.calls import JSON, KubeApi, KubeStatusError
from tier2.records import CreateRequest, DeploymentRecord, Placement

logger = logging.getLogger(__name__)

NAMESPACES = "/api/v1/namespaces"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
CLEANUP_TIMEOUT = 10.0
ABANDON_MARGIN = 60.0
"""Seconds past the readiness timeout after which an Initializing namespace is abandoned."""


@dataclass(frozen=True, slots=True)
class KubernetesDriverConfig:
    """What the driver needs from the settings, resolved once."""

    cloudlet: CloudletId
    namespace_prefix: str
    quota: objects.QuotaDefaults
    ingress_networks: tuple[IPNetwork, ...]
    egress_networks: tuple[IPNetwork, ...]
    cluster_domain: str
    ready_timeout: float
    poll_interval: float


class KubernetesDriver:
    """Deploys recipes' manifests through the API server; the namespaces are the only state."""

    name = "kubernetes"

    def __init__(self, api: KubeApi, config: KubernetesDriverConfig) -> None:
        self._api = api
        self._config = config
        self._creating: set[str] = set()
        self._leftovers: set[str] = set()

    async def check_ready(self) -> None:
        nodes = (await self._api.get("/api/v1/nodes")).get("items") or []
        if not any(_node_ready(node) for node in nodes):
            raise UnavailableError(f"none of the cluster's {len(nodes)} node(s) is Ready")

    async def fetch_hardware(self) -> Hardware:
        nodes = (await self._api.get("/api/v1/nodes")).get("items") or []
        cpu, memory = Decimal(0), Decimal(0)
        gpus: dict[str, int] = {}
        for node in nodes:
            capacity = (node.get("status") or {}).get("capacity") or {}
            cpu += objects.quantity(capacity.get("cpu", "0"))
            memory += objects.quantity(capacity.get("memory", "0"))
            count = int(objects.quantity(capacity.get(GPU_RESOURCE, "0")))
            if count:
                labels = (node.get("metadata") or {}).get("labels") or {}
                model = str(labels.get(GPU_PRODUCT_LABEL, "nvidia-gpu"))
                gpus[model] = gpus.get(model, 0) + count
        return Hardware(
            cpu_cores=int(cpu),
            memory_bytes=int(memory),
            gpus=[Gpu(model=model, count=count) for model, count in sorted(gpus.items())],
        )

    async def fetch_cluster_dns(self) -> list[IPAddress]:
        """The cluster DNS service's address (`kube-system/kube-dns`), if ST-2 may read it."""
        try:
            service = await self._api.get(f"{NAMESPACES}/kube-system/services/kube-dns")
        except KubeStatusError as exc:
            logger.warning("cannot read kube-system/kube-dns (%s); tunnels get no DNS server", exc)
            return []
        address = (service.get("spec") or {}).get("clusterIP")
        return [ipaddress.ip_address(address)] if address and address != "None" else []

    def new_name(self, recipe: Recipe) -> str:
        return objects.namespace_name(self._config.namespace_prefix, recipe)

    async def rediscover(self) -> list[DeploymentRecord]:
        """Every live deployment namespace of this cloudlet; unreadable ones are removed."""
        found: list[DeploymentRecord] = []
        for namespace in await self._list_namespaces():
            name = namespace["metadata"]["name"]
            try:
                found.append(objects.record_from_namespace(namespace, self._config.cluster_domain))
            except objects.RecordError as exc:
                logger.warning("removing namespace %s: %s", name, exc)
                await self.delete(name)
        return found

    async def sweep(self) -> None:
        """Remove what failed or interrupted creations left behind, once the cluster answers.

        That is every namespace whose clean-up failed, and any namespace still
        Initializing well past the readiness timeout that no creation here owns
        (a list can be a moment stale, so a young one is never taken for dead).
        """
        abandoned_before = datetime.now(UTC) - timedelta(
            seconds=self._config.ready_timeout + ABANDON_MARGIN
        )
        for namespace in await self._list_namespaces():
            metadata = namespace["metadata"]
            notes = metadata.get("annotations") or {}
            if notes.get(objects.ANNOTATION_STATUS) != "Initializing":
                continue
            if metadata["name"] in self._creating:
                continue
            created = _timestamp(notes.get(objects.ANNOTATION_CREATED))
            if created is None or created < abandoned_before:
                self._leftovers.add(metadata["name"])
        for name in sorted(self._leftovers):
            await self.delete(name)
            logger.info("removed half-created namespace %s", name)

    async def create(self, request: CreateRequest) -> DeploymentRecord:
        spec = request.recipe.kubernetes
        if spec is None:
            what = "a Helm chart" if request.recipe.helm is not None else "only a local command"
            raise InvalidRequestError(
                f"recipe {request.recipe.name!r} has {what}; this cloudlet deploys Kubernetes "
                "manifests (Helm charts are not supported: ST-2 never shells out to helm)"
            )
        name = request.name
        builtins = {
            "namespace": name,
            "deployment": name,
            "app": str(request.key.app),
            "client_address": str(request.client_address.ip),
        }
        rendered = manifests.render(spec.manifests, {**spec.parameters, **builtins})
        labels = {
            "app.kubernetes.io/managed-by": objects.MANAGED_BY,
            objects.LABEL_APP: str(request.key.app),
        }
        planned = manifests.plan(rendered, name, labels)
        self._creating.add(name)
        try:
            async with asyncio.timeout(self._config.ready_timeout):
                return await self._create(name, request, planned)
        except TimeoutError as exc:
            await self._clean_up(name)
            raise UpstreamTimeoutError(
                f"deployment {name} was not ready within {self._config.ready_timeout:g}s"
            ) from exc
        except BaseException:
            await asyncio.shield(self._clean_up(name))
            raise
        finally:
            self._creating.discard(name)

    async def _create(
        self, name: str, request: CreateRequest, planned: Sequence[manifests.PlannedObject]
    ) -> DeploymentRecord:
        base = f"{NAMESPACES}/{name}"
        await self._api.create(
            NAMESPACES, objects.build_namespace(name, self._config.cloudlet, request)
        )
        await self._own_service_account(base)
        quota = objects.build_quota(request.recipe, self._config.quota)
        await self._api.create(f"{base}/resourcequotas", quota)
        await self._api.create(
            f"{base}/limitranges", objects.build_limit_range(quota, self._config.quota)
        )
        policy = objects.build_network_policy(
            list(self._config.ingress_networks), list(self._config.egress_networks)
        )
        await self._api.create(
            f"/apis/networking.k8s.io/v1/namespaces/{name}/networkpolicies", policy
        )
        for item in planned:
            await self._create_object(item, name)
        await self._wait_ready(name, planned)
        services = (await self._api.get(f"{base}/services")).get("items") or []
        found, routes = manifests.endpoints(services)
        record = DeploymentRecord(
            key=request.key,
            app_name=request.recipe.name,
            status=DeploymentStatus.DEPLOYED,
            created=request.created,
            expires=request.expires,
            lease_seconds=request.lease_seconds,
            client_address=request.client_address,
            placement=Placement(
                name=name,
                services=found,
                routes=routes,
                search_domains=objects.search_domains(name, self._config.cluster_domain),
            ),
        )
        await self._api.patch(base, objects.placement_annotations(record))
        return record

    async def update(self, record: DeploymentRecord) -> None:
        try:
            await self._api.patch(f"{NAMESPACES}/{record.name}", objects.lease_annotations(record))
        except KubeStatusError as exc:
            if exc.status == 404:
                raise DeploymentNotFoundError(f"namespace {record.name} is gone") from exc
            raise _translate(exc, f"namespace {record.name}") from exc

    async def delete(self, name: str) -> None:
        try:
            await self._api.delete(f"{NAMESPACES}/{name}", body={"propagationPolicy": "Background"})
        except KubeStatusError as exc:
            if exc.status != 404:
                raise _translate(exc, f"namespace {name}") from exc
        self._leftovers.discard(name)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def _list_namespaces(self) -> list[JSON]:
        listing = await self._api.get(
            NAMESPACES, query=[("labelSelector", objects.selector(self._config.cloudlet))]
        )
        return [
            item
            for item in listing.get("items") or []
            if not (item.get("metadata") or {}).get("deletionTimestamp")
        ]

    async def _own_service_account(self, base: str) -> None:
        account = objects.build_service_account()
        try:
            await self._api.create(f"{base}/serviceaccounts", account)
        except KubeStatusError as exc:
            if exc.status != 409:
                raise _translate(exc, "ServiceAccount/default") from exc
            # The controller made it first: take the token away from tenant pods all the same.
            await self._api.patch(
                f"{base}/serviceaccounts/default", {"automountServiceAccountToken": False}
            )

    async def _create_object(self, item: manifests.PlannedObject, namespace: str) -> None:
        try:
            await self._api.create(item.resource.collection(namespace), item.body)
        except KubeStatusError as exc:
            if exc.status == 409:  # our own earlier attempt landed before a retry
                return
            raise _translate(exc, item.label) from exc

    async def _wait_ready(self, name: str, planned: Sequence[manifests.PlannedObject]) -> None:
        kinds = {item.resource for item in planned if item.resource.workload != "none"}
        base = f"{NAMESPACES}/{name}"
        while True:
            pending = False
            for resource in kinds:
                items = (await self._api.get(resource.collection(name))).get("items") or []
                for document in items:
                    verdict = manifests.judge(resource.workload, document)
                    if verdict.failure is not None:
                        raise _failure(verdict.failure)
                    pending = pending or not verdict.ready
            if kinds:
                for pod in (await self._api.get(f"{base}/pods")).get("items") or []:
                    failure = manifests.pod_failure(pod)
                    if failure is not None:
                        raise _failure(failure)
            if not pending:
                return
            await asyncio.sleep(self._config.poll_interval)

    async def _clean_up(self, name: str) -> None:
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT):
                await self.delete(name)
        except (SinfoniaError, TimeoutError) as exc:
            self._leftovers.add(name)
            logger.warning("could not remove namespace %s yet (%s); the collector will", name, exc)


def _timestamp(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _node_ready(node: JSON) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _failure(message: str) -> SinfoniaError:
    if "exceeded quota" in message or "exceeds quota" in message:
        return InvalidRequestError(f"the recipe's pods exceed this deployment's quota: {message}")
    return UpstreamError(f"the backend cannot start: {message}")


def _translate(exc: KubeStatusError, what: str) -> SinfoniaError:
    if exc.status == 403 and "exceeded quota" in exc.message:
        return InvalidRequestError(f"{what} exceeds this deployment's quota: {exc.message}")
    if exc.status in (400, 422):
        return InvalidRequestError(f"the recipe's {what} is invalid: {exc.message}")
    if exc.status in (401, 403):
        return UpstreamError(f"the cluster refused ST-2 on {what}: {exc.message}")
    return UpstreamError(f"the cluster failed on {what}: {exc}")
