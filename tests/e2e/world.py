"""The whole system on one machine: ST-1, two ST-2s on a real cluster, ST-3 on a device.

Built on the harness's device and cloudlet namespaces, plus a `cloud`
namespace made here for ST-1 with a veth link to each of them:

    device ──── near   ST-2, its Prometheus                  (harness link 1)
       │  ───── far    ST-2, its Prometheus, JIT + Zeroconf  (harness link 2)
       │          │
     cloud ───────┘    ST-1 (Redis through a bridge), one link each to device, near and far;
                       it reaches each ST-2 on the address the device uses

What is real: ST-1 with its Redis table, both ST-2s as processes against the
real kube-apiserver (under the least-privilege ServiceAccount of
`deploy/kubernetes/tier2/rbac.yaml`), a real Prometheus per cloudlet, real
wireguard-go gateways, real mDNS, and the ST-3 daemon bringing up real
tunnels in the device namespace.

What is faked, and why:
* the cluster's kubelet (the harness's fake kubelet): this machine has no
  container runtime, so pods are Running on paper and their ClusterIP
  Services have nobody behind them. A test that needs "the backend" binds
  the Service's ClusterIP inside the chosen cloudlet's namespace and serves
  HTTP there itself (`serve_behind`), standing in for kube-proxy and the pod;
  the device's packets still travel the real WireGuard tunnel to get there.
* the node-exporters (`tests/e2e/exporter.py`): the real one reports this
  machine, whose load the test run itself drives; each cloudlet's Prometheus
  scrapes a stand-in whose CPU load the test sets, so rankings are known.
* the kube-apiserver and Redis listen on the host's loopback, which no
  namespace can reach: byte-for-byte TCP bridges (`crossns.bridge`) carry
  those connections, TLS included.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from tests.e2e.crossns import bridge, call_in, http_server_in
from tests.e2e.exporter import SyntheticNode, handler_for
from tests.harness.kubernetes_cluster import KubernetesCluster, write_kubeconfig
from tests.harness.netns import NetnsHost, NetnsHosts
from tests.harness.processes import run_checked, stop_popen
from tests.harness.redis_server import RedisServer
from tests.tier2.kube_admin import KubeAdmin

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RECIPES = REPO_ROOT / "deploy" / "recipes"
RBAC = REPO_ROOT / "deploy" / "kubernetes" / "tier2" / "rbac.yaml"

HELLOWORLD = uuid.UUID(int=0)
TIER1_PORT = 5000
TIER2_PORT = 5001
WIREGUARD_PORT = 51820
PROMETHEUS_PORT = 9090
EXPORTER_PORT = 9100
#: Links from the cloud namespace: device, near, far. The harness uses the first two /28s.
CLOUD_LINKS = (
    ipaddress.IPv4Network("10.250.0.32/28"),
    ipaddress.IPv4Network("10.250.0.48/28"),
    ipaddress.IPv4Network("10.250.0.64/28"),
)
#: Where the device is: Pittsburgh. "near" is across town, "far" is in Denver.
DEVICE_LOCATION = (40.4433, -79.9436)
NEAR_LOCATION = (40.4406, -79.9959)
FAR_LOCATION = (39.7392, -104.9903)
#: CPU load each cloudlet's exporter reports until a test changes it.
NEAR_BUSY = 0.8
FAR_BUSY = 0.1
FAR_GPU = 0.3
#: Client networks the cloudlets' ACLs name (documentation ranges, never routed anywhere):
#: near rejects both; far accepts only the first (besides the device's and loopback).
REJECTED_BY_NEAR = ipaddress.IPv4Network("198.51.100.0/24")
REJECTED_BY_BOTH = ipaddress.IPv4Network("192.0.2.0/24")
KEEPALIVE_INTERVAL = 1.0
TTL_MULTIPLIER = 5.0
#: How long a condition the system reaches by itself may take; generous for a busy 2-core CI.
SETTLE_TIMEOUT = 60.0
SERVICE_STOP_TIMEOUT = 20.0


class WorldError(AssertionError):
    """The world did not come up, or a condition was not reached in time; logs attached."""


@dataclass
class Service:
    """A program of the world, started inside a namespace, with its log file."""

    name: str
    namespace: str
    popen: subprocess.Popen[str]
    log_path: Path
    log_file: IO[str]

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} ({self.log_path.name}) ---\n" + "\n".join(text[-lines:])

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)  # a test may have stopped it
        code = stop_popen(self.popen, self.name, timeout=SERVICE_STOP_TIMEOUT)
        self.log_file.close()
        return code


@dataclass
class Cloudlet:
    """One ST-2 with its Prometheus and stand-in exporter, in its own namespace."""

    name: str
    host: NetnsHost
    address: str
    """Its address on the link to the device: API, WireGuard endpoint, Zeroconf."""
    node: SyntheticNode
    uuid: str = ""
    service: Service | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.address}:{TIER2_PORT}"

    @property
    def namespace(self) -> str:
        return self.host.namespace


def recipe(name: str, app: uuid.UUID, **changes: Any) -> dict[str, Any]:
    """The bundled helloworld recipe under another name and UUID, with top-level changes."""
    document: dict[str, Any] = yaml.safe_load((RECIPES / f"{HELLOWORLD}.yaml").read_text())
    document.update(uuid=str(app), name=name, **changes)
    return document


def write_recipes(directory: Path, recipes: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for document in recipes:
        (directory / f"{document['uuid']}.yaml").write_text(yaml.safe_dump(document))
    return directory


def urlsafe(key: str) -> str:
    """A WireGuard key as the original ST-3 puts it in URLs: URL-safe base64, unpadded."""
    return base64.urlsafe_b64encode(base64.b64decode(key)).decode().rstrip("=")


@dataclass
class World:
    hosts: NetnsHosts
    cluster: KubernetesCluster
    workdir: Path
    cloud: str
    near: Cloudlet
    far: Cloudlet
    daemon_socket: Path
    services: list[Service] = field(default_factory=list)
    kube: KubeAdmin | None = None

    # --- addresses -----------------------------------------------------------------------

    @property
    def tier1_url(self) -> str:
        """ST-1 as the device reaches it (it sees the device's own address)."""
        return f"http://{CLOUD_LINKS[0].network_address + 2}:{TIER1_PORT}"

    @property
    def cloudlets(self) -> tuple[Cloudlet, Cloudlet]:
        return (self.near, self.far)

    # --- calls ------------------------------------------------------------------------------

    def tier1(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        timeout: float = 30.0,
    ) -> httpx.Response:
        """Call ST-1 from its own host (127.0.0.1: the trusted proxy in front of it)."""
        url = f"http://127.0.0.1:{TIER1_PORT}{path}"

        def send() -> httpx.Response:
            with httpx.Client(trust_env=False, timeout=timeout) as client:
                return client.request(method, url, headers=headers, json=json_body)

        return call_in(self.cloud, send, timeout=timeout + 5)

    def candidates(self, app: uuid.UUID, headers: dict[str, str]) -> httpx.Response:
        """ST-1's ranked candidates for `app`, as a client described by `headers` would get."""
        key = urlsafe(base64.b64encode(secrets.token_bytes(32)).decode())
        return self.tier1("GET", f"/api/v2/deploy/{app}/{key}", headers=headers)

    def row(self, cloudlet: Cloudlet) -> dict[str, Any] | None:
        """The cloudlet's row in ST-1's table, or None once it is gone."""
        response = self.tier1("GET", f"/api/v2/cloudlets/{cloudlet.uuid}", timeout=5)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        row: dict[str, Any] = response.json()
        return row

    def tier2_info(self, cloudlet: Cloudlet) -> dict[str, Any]:
        def get() -> dict[str, Any]:
            url = f"http://127.0.0.1:{TIER2_PORT}/api/v2/cloudlet"
            info: dict[str, Any] = httpx.get(url, timeout=5, trust_env=False).json()
            return info

        return call_in(cloudlet.namespace, get)

    def fetch_from_device(self, url: str, *, timeout: float = 3.0) -> httpx.Response:
        """GET `url` from the device namespace, as an app on the device does."""

        def get() -> httpx.Response:
            return httpx.get(url, timeout=timeout, trust_env=False)

        return call_in(self.hosts.device.namespace, get, timeout=timeout + 5)

    def live_namespaces(self, cloudlet: Cloudlet, app: uuid.UUID) -> list[str]:
        """The cluster's namespaces of `app` on `cloudlet`, not being deleted (admin's view)."""
        assert self.kube is not None
        selector = urllib.parse.quote(
            f"sinfonia.dev/cloudlet={cloudlet.uuid},sinfonia.dev/app={app}"
        )
        return self.kube.live_namespaces(selector)

    def wg_handshakes(self, cloudlet: Cloudlet) -> dict[str, int]:
        """Device key → latest handshake (epoch seconds) on the cloudlet's gateway."""
        result = self.hosts.run(
            cloudlet.host, ["wg", "show", interface_name(self, cloudlet), "latest-handshakes"]
        )
        assert result.returncode == 0, result.stderr
        pairs = (line.split("\t") for line in result.stdout.splitlines() if line.strip())
        return {key: int(stamp) for key, stamp in pairs}

    @contextmanager
    def serve_behind(self, cloudlet: Cloudlet, host: str, port: int, body: str) -> Iterator[None]:
        """Answer HTTP on `host:port` inside the cloudlet: the stand-in for kube-proxy + pod."""
        address = f"{host}/32"
        added = self.hosts.run(cloudlet.host, ["ip", "address", "add", address, "dev", "lo"])
        assert added.returncode == 0, added.stderr
        try:
            with http_server_in(cloudlet.namespace, host, port, _answer(body)):
                yield
        finally:
            self.hosts.run(cloudlet.host, ["ip", "address", "del", address, "dev", "lo"])

    # --- waiting --------------------------------------------------------------------------

    def logs(self) -> str:
        return "\n".join(service.tail() for service in self.services)

    def wait_for(
        self, check: Callable[[], bool], what: str, *, timeout: float = SETTLE_TIMEOUT
    ) -> float:
        """Poll `check` (errors count as "not yet") until true; seconds taken, or WorldError."""
        started = time.monotonic()
        last_error: BaseException | None = None
        while time.monotonic() - started < timeout:
            try:
                if check():
                    return time.monotonic() - started
            except Exception as exc:  # the thing polled may not be up yet
                last_error = exc
            for service in self.services:
                if service.popen.poll() is not None:
                    message = f"{service.name} exited while waiting for {what}\n"
                    raise WorldError(message + service.tail())
            time.sleep(0.1)
        raise WorldError(
            f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error!r})\n"
            + self.logs()
        )

    def cpu_load(self, cloudlet: Cloudlet) -> float | None:
        row = self.row(cloudlet)
        if row is None:
            return None
        value = (row.get("metrics") or {}).get("cpu_utilization")
        return None if value is None else float(value)

    def wait_for_loads(self, near: float, far: float) -> None:
        """Until ST-1's table shows these CPU loads (what the exporters report, via everything)."""

        def settled() -> bool:
            loads = (self.cpu_load(self.near), self.cpu_load(self.far))
            return all(
                v is not None and abs(v - want) < 0.03
                for v, want in zip(loads, (near, far), strict=True)
            )

        self.wait_for(settled, f"ST-1 to see CPU loads near={near} far={far}")


def interface_name(world: World, cloudlet: Cloudlet) -> str:
    return f"{world.hosts.prefix}g{cloudlet.name[0]}"


def _answer(body: str) -> type[BaseHTTPRequestHandler]:
    encoded = body.encode()

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    return Answer


# --- building the world ----------------------------------------------------------------------


def _ip(*args: str) -> None:
    run_checked(["ip", *args], timeout=10)


@contextmanager
def cloud_namespace(hosts: NetnsHosts) -> Iterator[str]:
    """The `cloud` namespace with a veth link to the device and to each cloudlet."""
    name = f"{hosts.prefix}-cloud"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "dev", "lo", "up")
        peers = (hosts.device, *hosts.cloudlets)
        for index, (peer, subnet) in enumerate(zip(peers, CLOUD_LINKS, strict=True)):
            ours, theirs = f"{hosts.prefix}k{index}", f"{hosts.prefix}q{index}"
            _ip("-n", name, "link", "add", ours, "type", "veth",
                "peer", "name", theirs, "netns", peer.namespace)  # fmt: skip
            for namespace, interface, host in ((name, ours, 2), (peer.namespace, theirs, 1)):
                address = f"{subnet.network_address + host}/{subnet.prefixlen}"
                _ip("-n", namespace, "address", "add", address, "dev", interface)
                _ip("-n", namespace, "link", "set", "dev", interface, "up")
        # ST-1 reaches each ST-2 on the address the device uses, through that cloudlet's link.
        for cloudlet, subnet in zip(hosts.cloudlets, CLOUD_LINKS[1:], strict=True):
            link = hosts.link(cloudlet)
            network = ipaddress.ip_interface(f"{link.cloudlet_address}/{link.prefix_length}")
            via = str(subnet.network_address + 1)
            _ip("-n", name, "route", "add", str(network.network), "via", via)
        yield name
    finally:
        pids = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10, check=False
        ).stdout.split()
        for pid in pids:
            subprocess.run(["kill", "-9", pid], timeout=10, check=False)
        subprocess.run(["ip", "netns", "delete", name], timeout=10, check=False)


def service_account_token(cluster: KubernetesCluster) -> str:
    """Apply ST-2's RBAC (idempotently) and return its ServiceAccount's token."""
    admin = KubeAdmin(cluster)
    plurals = {
        "Namespace": "namespaces",
        "ServiceAccount": "serviceaccounts",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "Role": "roles",
        "RoleBinding": "rolebindings",
    }
    for document in yaml.safe_load_all(RBAC.read_text()):
        if not document:
            continue
        version = document["apiVersion"]
        prefix = "/api/v1" if version == "v1" else f"/apis/{version}"
        namespace = document["metadata"].get("namespace")
        scope = f"/namespaces/{namespace}" if namespace else ""
        status, body = admin.request(
            "POST", f"{prefix}{scope}/{plurals[document['kind']]}", document
        )
        if status not in (201, 409):
            raise WorldError(f"applying {document['kind']} from rbac.yaml: {status} {body}")
    account = "/api/v1/namespaces/sinfonia-system/serviceaccounts/sinfonia-tier2"
    deadline = time.monotonic() + 30
    while not admin.get(account).get("secrets"):
        if time.monotonic() > deadline:
            raise WorldError("the ServiceAccount got no token secret in 30s")
        time.sleep(0.2)
    secret = admin.get(account)["secrets"][0]["name"]
    data = admin.get(f"/api/v1/namespaces/sinfonia-system/secrets/{secret}")["data"]
    return base64.b64decode(data["token"]).decode()


def _start(
    world: World, name: str, namespace: str, argv: list[str], env: dict[str, str] | None = None
) -> Service:
    logs = world.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    log_file = log_path.open("w")
    popen = world.hosts.popen(
        namespace, argv, stdout=log_file, stderr=subprocess.STDOUT, cwd=world.workdir, env=env
    )
    service = Service(name, namespace, popen, log_path, log_file)
    world.services.append(service)
    return service


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _start_prometheus(world: World, cloudlet: Cloudlet) -> None:
    directory = world.workdir / f"prometheus-{cloudlet.name}"
    config = _write(
        directory / "prometheus.yml",
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "node",
                    "static_configs": [{"targets": [f"127.0.0.1:{EXPORTER_PORT}"]}],
                }
            ],
        },
    )
    _start(
        world,
        f"prometheus-{cloudlet.name}",
        cloudlet.namespace,
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
        ],
    )


def _tier1_config(world: World, redis: RedisServer, recipes: Path) -> Path:
    return _write(
        world.workdir / "tier1.yaml",
        {
            "host": "0.0.0.0",
            "port": TIER1_PORT,
            "table": {
                "url": f"redis://127.0.0.1:{redis.port}/0",
                "prefix": f"sinfonia:e2e:{secrets.token_hex(4)}:",
            },
            "keepalive": {
                "min_interval": 0.5,
                "ttl_multiplier": TTL_MULTIPLIER,
                "sweep_interval": 0.5,
            },
            "clients": {"trusted_proxies": ["127.0.0.1/32"]},
            "recipes": {"directory": str(recipes)},
            "selection": {"seed": 7},
        },
    )


def _tier2_config(
    world: World, cloudlet: Cloudlet, kubeconfig: Path, index: int, recipes: Path
) -> Path:
    link_to_cloud = CLOUD_LINKS[index + 1]
    pool = ipaddress.IPv4Network("10.251.0.0/24").subnets(new_prefix=25)
    cloudlet_settings: dict[str, Any] = {
        "name": cloudlet.name,
        "owner": f"{cloudlet.name}-operator",
        "locations": [list(NEAR_LOCATION if cloudlet.name == "near" else FAR_LOCATION)],
    }
    extra: dict[str, Any] = {}
    if cloudlet.name == "near":
        cloudlet_settings["rejected_clients"] = [str(REJECTED_BY_NEAR), str(REJECTED_BY_BOTH)]
    else:
        link = world.hosts.link(cloudlet.host)
        lan = ipaddress.ip_interface(f"{link.cloudlet_address}/{link.prefix_length}").network
        cloudlet_settings |= {
            "local_networks": [str(lan)],
            "accepted_clients": [str(CLOUD_LINKS[0]), "127.0.0.0/8", str(REJECTED_BY_NEAR)],
            "hardware": {
                "cpu_cores": 32,
                "memory_bytes": 64 * 1024**3,
                "gpus": [{"model": "nvidia-a2", "count": 1}],
            },
        }
        extra = {
            "jit": True,
            "recipes_dir": str(recipes),
            "zeroconf": {"enabled": True, "interfaces": [cloudlet.address]},
        }
    return _write(
        world.workdir / f"tier2-{cloudlet.name}.yaml",
        {
            "host": "0.0.0.0",
            "port": TIER2_PORT,
            "api_url": cloudlet.api_url,
            "state_dir": str(world.workdir / f"tier2-{cloudlet.name}-state"),
            "driver": "kubernetes",
            "kubernetes": {
                "kubeconfig": str(kubeconfig),
                "namespace_prefix": f"{cloudlet.name}-",
                "ready_timeout": 60.0,
                "poll_interval": 0.2,
            },
            "cloudlet": cloudlet_settings,
            "tier1": [
                {
                    "url": f"http://{link_to_cloud.network_address + 2}:{TIER1_PORT}",
                    "keepalive_interval": KEEPALIVE_INTERVAL,
                }
            ],
            "registration": {
                "backoff_initial": 0.2,
                "backoff_max": 2.0,
                "ready_poll_interval": 0.5,
            },
            "tunnel": {
                "mode": "managed",
                "interface": interface_name(world, cloudlet),
                "listen_port": WIREGUARD_PORT,
                "endpoint": f"{cloudlet.address}:{WIREGUARD_PORT}",
                "client_pool": str(list(pool)[index]),
            },
            "lifecycle": {
                "gc_interval": 0.5,
                "expiring_grace": 1.0,
                "idle_timeout": 2.0,
                "peer_linger": 0.5,
            },
            "metrics": {
                "prometheus_url": f"http://127.0.0.1:{PROMETHEUS_PORT}",
                "interval": 0.5,
                "rate_window": "5s",
                "query_timeout": 2.0,
            },
            **extra,
        },
    )


def _tier3_config(world: World) -> Path:
    far_link = world.hosts.link(world.far.host)
    return _write(
        world.workdir / "tier3.yaml",
        {
            "unix_socket": str(world.daemon_socket),
            "cache_dir": str(world.workdir / "tier3-cache"),
            "tier1": {"url": world.tier1_url, "results": 3, "release_timeout": 10.0},
            "discovery": {"interfaces": [far_link.device_address], "browse_timeout": 2.0},
            "device": {"location": f"{DEVICE_LOCATION[0]},{DEVICE_LOCATION[1]}"},
            "log_level": "info",
        },
    )


def _ok(namespace: str, port: int) -> bool:
    """The service on `port` inside `namespace` answers `/readyz` with 200."""

    def get() -> bool:
        url = f"http://127.0.0.1:{port}/readyz"
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200

    return call_in(namespace, get, timeout=10)


def _prometheus_scraping(namespace: str) -> bool:
    def get() -> bool:
        query = urllib.parse.urlencode({"query": 'up{job="node"} == 1'})
        url = f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query?{query}"
        document = httpx.get(url, timeout=2, trust_env=False).json()
        return bool(document["data"]["result"])

    return call_in(namespace, get, timeout=10)


@contextmanager
def running_world(
    hosts: NetnsHosts,
    cluster: KubernetesCluster,
    redis: RedisServer,
    workdir: Path,
    tier1_recipes: list[dict[str, Any]],
    jit_recipes: list[dict[str, Any]],
) -> Iterator[World]:
    """Everything started and settled (rows registered, loads known, the JIT cloudlet seen)."""
    with ExitStack() as stack:
        cloud = stack.enter_context(cloud_namespace(hosts))
        near_host, far_host = hosts.cloudlets
        world = World(
            hosts=hosts,
            cluster=cluster,
            workdir=workdir,
            cloud=cloud,
            near=Cloudlet(
                "near", near_host, hosts.link(near_host).cloudlet_address, SyntheticNode(NEAR_BUSY)
            ),
            far=Cloudlet(
                "far", far_host, hosts.link(far_host).cloudlet_address, SyntheticNode(FAR_BUSY)
            ),
            daemon_socket=workdir / "tier3.sock",
            kube=KubeAdmin(cluster),
        )
        world.far.node.gpu = FAR_GPU
        kubeconfig = workdir / "tier2-kubeconfig"
        write_kubeconfig(
            kubeconfig, cluster.server, cluster.ca_path, service_account_token(cluster)
        )
        api = urllib.parse.urlsplit(cluster.server)
        api_address = (api.hostname or "127.0.0.1", api.port or 443)
        for cloudlet in world.cloudlets:
            stack.enter_context(bridge(cloudlet.namespace, api_address, api_address))
            stack.enter_context(
                http_server_in(
                    cloudlet.namespace, "127.0.0.1", EXPORTER_PORT, handler_for(cloudlet.node)
                )
            )
        stack.enter_context(bridge(cloud, ("127.0.0.1", redis.port), ("127.0.0.1", redis.port)))
        # Programs stop before the bridges and exporters they use go away.
        stack.callback(_stop_all, world)
        for cloudlet in world.cloudlets:
            _start_prometheus(world, cloudlet)
        tier1_dir = write_recipes(workdir / "recipes-tier1", tier1_recipes)
        jit_dir = write_recipes(workdir / "recipes-far", jit_recipes)
        tier1_config = _tier1_config(world, redis, tier1_dir)
        _start(
            world, "tier1", cloud, [str(BIN / "sinfonia-tier1"), "serve", "-c", str(tier1_config)]
        )
        for index, cloudlet in enumerate(world.cloudlets):
            config = _tier2_config(world, cloudlet, kubeconfig, index, jit_dir)
            cloudlet.service = _start(
                world,
                f"tier2-{cloudlet.name}",
                cloudlet.namespace,
                [str(BIN / "sinfonia-tier2"), "serve", "--config", str(config)],
            )
        _start(
            world,
            "tier3",
            hosts.device.namespace,
            [str(BIN / "sinfonia-tier3"), "serve", "--config", str(_tier3_config(world))],
        )

        world.wait_for(lambda: _ok(cloud, TIER1_PORT), "ST-1 ready")
        for cloudlet in world.cloudlets:
            namespace = cloudlet.namespace
            world.wait_for(partial(_ok, namespace, TIER2_PORT), f"ST-2 {cloudlet.name} ready")
            cloudlet.uuid = world.tier2_info(cloudlet)["uuid"]
            world.wait_for(
                partial(_prometheus_scraping, namespace), f"Prometheus of {cloudlet.name} scraping"
            )
        world.wait_for(world.daemon_socket.exists, "the ST-3 daemon's socket")
        world.wait_for_loads(NEAR_BUSY, FAR_BUSY)
        yield world


def _stop_all(world: World) -> None:
    for service in reversed(world.services):
        service.stop()
    if world.kube is not None:
        for cloudlet in world.cloudlets:
            if not cloudlet.uuid:
                continue
            selector = urllib.parse.quote(f"sinfonia.dev/cloudlet={cloudlet.uuid}")
            for namespace in world.kube.live_namespaces(selector):
                world.kube.request("DELETE", f"/api/v1/namespaces/{namespace}")
