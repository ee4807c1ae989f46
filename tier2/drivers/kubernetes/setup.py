"""Builds the Kubernetes driver from settings: API client (kubeconfig or in-cluster) and policy."""

from __future__ import annotations

import ipaddress

import kubernetes.client
import kubernetes.config

from common.service.retry import Backoff
from common.types import CloudletId
from tier2.drivers.kubernetes.calls import CallPolicy, KubeApi
from tier2.drivers.kubernetes.driver import KubernetesDriver, KubernetesDriverConfig
from tier2.drivers.kubernetes.objects import QuotaDefaults
from tier2.settings import KubernetesSettings, TunnelSettings

POOL_SIZE = 16


def build_api_client(settings: KubernetesSettings) -> kubernetes.client.ApiClient:
    """An API client from the kubeconfig file, or from the pod's ServiceAccount when none is set.

    urllib3's own retries are off: `KubeApi` retries, bounded, with backoff.
    """
    configuration = kubernetes.client.Configuration()
    if settings.kubeconfig is not None:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(settings.kubeconfig),
            context=settings.context,
            client_configuration=configuration,
            persist_config=False,
        )
    else:
        kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    configuration.retries = False
    configuration.connection_pool_maxsize = POOL_SIZE
    return kubernetes.client.ApiClient(configuration)


def build_kubernetes_driver(
    settings: KubernetesSettings, tunnel: TunnelSettings, cloudlet: CloudletId
) -> KubernetesDriver:
    policy = CallPolicy(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.request_timeout,
        attempts=settings.attempts,
        backoff=Backoff(initial=0.2, maximum=2.0),
    )
    api = KubeApi(build_api_client(settings), policy, workers=POOL_SIZE)
    config = KubernetesDriverConfig(
        cloudlet=cloudlet,
        namespace_prefix=settings.namespace_prefix,
        quota=QuotaDefaults(
            cpu=settings.quota_cpu,
            memory=settings.quota_memory,
            pods=settings.quota_pods,
            cpu_request=settings.default_cpu_request,
            memory_request=settings.default_memory_request,
        ),
        ingress_networks=(ipaddress.ip_network(tunnel.client_pool), *settings.ingress_networks),
        egress_networks=tuple(settings.egress_networks),
        cluster_domain=settings.cluster_domain,
        ready_timeout=settings.ready_timeout,
        poll_interval=settings.poll_interval,
    )
    return KubernetesDriver(api, config)
