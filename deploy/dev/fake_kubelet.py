"""Fake kubelet: a Ready node whose pods run on paper only (dev machines have no container runtime).

This is a deliberate fake, the only one in Sinfonia's test harness. The machines the
tests run on have no container runtime, so a real kubelet cannot start pods. Everything
else in the test cluster is real (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler); this program stands in for the kubelet of one node:

* it registers the node, reports it Ready and renews its Lease in ``kube-node-lease``;
* it marks pods the scheduler bound to the node Running and Ready, with a pod IP taken
  from ``--pod-cidr`` (nothing listens on those addresses: no container ever starts);
* it removes pods that are being deleted, as a kubelet does once containers stopped.

It stops on SIGTERM or SIGINT, after too many API errors in a row, or after
``--max-runtime`` seconds, so it never outlives a test session by much.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import kubernetes.client
import kubernetes.config
from kubernetes.client import ApiException, V1Container, V1Pod

logger = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
REQUEST_TIMEOUT = 10.0
CAPACITY = {"cpu": "32", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _timestamp() -> str:
    """RFC 3339 time with second precision, as in ``metav1.Time``."""
    return _now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_timestamp() -> str:
    """RFC 3339 time with microseconds, as in ``metav1.MicroTime`` (Lease renewTime)."""
    return _now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeKubelet:
    """Plays the kubelet of one node against a real API server."""

    def __init__(
        self,
        api_client: Any,
        node_name: str,
        pod_cidr: str,
        lease_seconds: int,
    ) -> None:
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._coordination = kubernetes.client.CoordinationV1Api(api_client)
        self.node_name = node_name
        self._pod_network = ipaddress.ip_network(pod_cidr)
        self._lease_seconds = lease_seconds
        self._pod_ips: dict[str, str] = {}

    def register_node(self) -> None:
        """Create the Node object (an existing one is reused)."""
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "sinfonia.dev/fake-kubelet": "true",
        }
        node = kubernetes.client.V1Node(
            metadata=kubernetes.client.V1ObjectMeta(name=self.node_name, labels=labels),
            spec=kubernetes.client.V1NodeSpec(pod_cidr=str(self._pod_network)),
        )
        try:
            self._core.create_node(node, _request_timeout=REQUEST_TIMEOUT)
            logger.info("registered node %s", self.node_name)
        except ApiException as exc:
            if exc.status != 409:
                raise
            logger.info("node %s already registered", self.node_name)

    def heartbeat(self) -> None:
        """Report the node Ready and renew its Lease."""
        now = _timestamp()
        status = {
            "capacity": CAPACITY,
            "allocatable": CAPACITY,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node_name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "fake kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.20.2-fake",
                "kubeProxyVersion": "v1.20.2-fake",
                "containerRuntimeVersion": "fake://1",
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kernelVersion": "",
                "osImage": "fake",
                "bootID": "",
                "machineID": "",
                "systemUUID": "",
            },
        }
        self._core.patch_node_status(
            self.node_name, {"status": status}, _request_timeout=REQUEST_TIMEOUT
        )
        self._renew_lease()

    def _renew_lease(self) -> None:
        body = {
            "spec": {
                "holderIdentity": self.node_name,
                "leaseDurationSeconds": self._lease_seconds,
                "renewTime": _micro_timestamp(),
            }
        }
        try:
            self._coordination.patch_namespaced_lease(
                self.node_name, LEASE_NAMESPACE, body, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            lease = kubernetes.client.V1Lease(
                metadata=kubernetes.client.V1ObjectMeta(name=self.node_name),
                spec=kubernetes.client.V1LeaseSpec(
                    holder_identity=self.node_name,
                    lease_duration_seconds=self._lease_seconds,
                    renew_time=_now(),
                ),
            )
            self._coordination.create_namespaced_lease(
                LEASE_NAMESPACE, lease, _request_timeout=REQUEST_TIMEOUT
            )

    def sync_pods(self) -> None:
        """Start pending pods on paper and remove pods that are being deleted."""
        pods = self._core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={self.node_name}", _request_timeout=REQUEST_TIMEOUT
        ).items
        refs = [ref for ref in map(_PodRef.of, pods) if ref is not None]
        for ref in refs:
            if ref.pod_ip:
                self._pod_ips.setdefault(ref.uid, ref.pod_ip)
        for ref in refs:
            if ref.deleting:
                self._remove(ref)
            elif ref.pending:
                self._run(ref)

    def _allocate_ip(self, uid: str) -> str:
        if uid in self._pod_ips:
            return self._pod_ips[uid]
        used = set(self._pod_ips.values())
        for index, address in enumerate(self._pod_network.hosts()):
            if index == 0:
                continue  # the first address is the node's bridge on a real node
            if str(address) not in used:
                self._pod_ips[uid] = str(address)
                return str(address)
        raise RuntimeError(f"pod CIDR {self._pod_network} is exhausted")

    def _run(self, ref: _PodRef) -> None:
        now = _timestamp()
        pod_ip = self._allocate_ip(ref.uid)

        def container_status(container: V1Container, state: dict[str, Any]) -> dict[str, Any]:
            return {
                "name": container.name,
                "image": container.image,
                "imageID": f"fake://{container.image}",
                "containerID": f"fake://{ref.uid}/{container.name}",
                "ready": True,
                "restartCount": 0,
                "state": state,
            }

        running = {"running": {"startedAt": now}}
        completed = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": now,
                "finishedAt": now,
            }
        }
        conditions = ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        status = {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": now,
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": now} for kind in conditions
            ],
            "containerStatuses": [
                {**container_status(c, running), "started": True} for c in ref.containers
            ],
            "initContainerStatuses": [container_status(c, completed) for c in ref.init_containers],
        }
        try:
            self._core.patch_namespaced_pod_status(
                ref.name, ref.namespace, {"status": status}, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            return
        logger.info("running %s/%s at %s", ref.namespace, ref.name, pod_ip)

    def _remove(self, ref: _PodRef) -> None:
        try:
            self._core.delete_namespaced_pod(
                ref.name, ref.namespace, grace_period_seconds=0, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        self._pod_ips.pop(ref.uid, None)
        logger.info("removed %s/%s", ref.namespace, ref.name)


@dataclass(frozen=True)
class _PodRef:
    """The parts of a pod the fake kubelet acts on, with the optional fields resolved."""

    namespace: str
    name: str
    uid: str
    pod_ip: str | None
    deleting: bool
    pending: bool
    containers: tuple[V1Container, ...]
    init_containers: tuple[V1Container, ...]

    @classmethod
    def of(cls, pod: V1Pod) -> _PodRef | None:
        meta, spec, status = pod.metadata, pod.spec, pod.status
        if meta is None or spec is None or not (meta.namespace and meta.name and meta.uid):
            return None
        phase = status.phase if status is not None else None
        return cls(
            namespace=meta.namespace,
            name=meta.name,
            uid=meta.uid,
            pod_ip=status.pod_ip if status is not None else None,
            deleting=meta.deletion_timestamp is not None,
            pending=phase in (None, "Pending"),
            containers=tuple(spec.containers),
            init_containers=tuple(spec.init_containers or ()),
        )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    parser.add_argument("--node-name", default="fake-node-1")
    parser.add_argument("--pod-cidr", default="10.244.0.0/24")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between pod syncs")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds between heartbeats")
    parser.add_argument("--lease-seconds", type=int, default=40)
    parser.add_argument("--max-runtime", type=float, default=3 * 3600.0)
    parser.add_argument("--max-errors", type=int, default=60, help="consecutive failures to quit")
    args = parser.parse_args(argv)
    if not args.kubeconfig:
        parser.error("--kubeconfig or $KUBECONFIG is required")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake kubelet until stopped; return the process exit code."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    args = _parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    api_client = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=args.kubeconfig
    )
    try:
        kubelet = FakeKubelet(api_client, args.node_name, args.pod_cidr, args.lease_seconds)
        kubelet.register_node()
        deadline = time.monotonic() + args.max_runtime
        next_heartbeat = 0.0
        errors = 0
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if time.monotonic() >= next_heartbeat:
                    kubelet.heartbeat()
                    next_heartbeat = time.monotonic() + args.heartbeat
                kubelet.sync_pods()
                errors = 0
            except Exception:  # keep serving through API hiccups, up to --max-errors
                errors += 1
                logger.exception("sync failed (%d in a row)", errors)
                if errors >= args.max_errors:
                    logger.error("giving up after %d failures in a row", errors)
                    return 1
            stop.wait(args.interval)
        if not stop.is_set():
            logger.info("--max-runtime of %.0fs reached", args.max_runtime)
        return 0
    finally:
        api_client.close()


if __name__ == "__main__":
    sys.exit(main())
