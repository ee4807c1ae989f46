"""A real Kubernetes node inside a test namespace: containerd, kubelet, kube-proxy, local images.

The node joins the harness's cluster with a taint, so only pods that tolerate
it (the real-pods test's) run here and every other test keeps the fake
kubelet. Its programs run with the namespace's network (`nsenter --net`) but
the host's mounts and cgroups, as a node's would; the pod network is a CNI
bridge inside the namespace, and kube-proxy's iptables rules live there too.
So a device whose WireGuard tunnel ends in that namespace reaches a Service's
ClusterIP, and kube-proxy carries it to a real pod.

Images come from Debian's busybox-static, packed here (no registry is used).
The kubelet changes a few machine-wide sysctls at start; they are put back.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.harness.kubernetes_cluster import KubernetesCluster, k8s_bin_dir
from tests.harness.processes import free_ports, run_checked, stop_popen
from tests.harness.requirements import (
    ComponentUnavailableError,
    require_executable,
    require_root,
)
from tests.tier2.kube_admin import KubeAdmin

logger = logging.getLogger(__name__)

NODE_NAME = "sinfonia-real-node"
TAINT_KEY = "sinfonia.dev/real-pods"
POD_SUBNET = "10.244.0.0/24"
CNI_BIN = Path("/usr/lib/cni")
BUSYBOX = Path("/bin/busybox")
PAUSE_IMAGE = "docker.io/library/pause:local"
#: The bundled helloworld recipe runs this image; here it is made from busybox-static.
WEB_IMAGE = "docker.io/library/busybox:1.36"
BUSYBOX_APPLETS = ("sh", "sleep", "echo", "mkdir", "httpd", "cat", "ls", "wget", "hostname")
#: Machine-wide sysctls the kubelet sets at start (not per network namespace).
GLOBAL_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
#: Sysctls of the node's network namespace that kubelet and kube-proxy change.
NETNS_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0


def check_prerequisites() -> None:
    """Raise `ComponentUnavailableError` unless a real node can run here."""
    component = "the real-pods node"
    require_root(component)
    for program in ("containerd", "runc", "ctr", "nsenter", "iptables", "ipset"):
        require_executable(component, program)
    for program in ("kubelet", "kube-proxy"):
        require_executable(component, program, k8s_bin_dir())
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        require_executable(component, plugin, CNI_BIN)
    if not BUSYBOX.is_file():
        raise ComponentUnavailableError(f"{component} needs busybox-static ({BUSYBOX})")


def build_image(name: str, entrypoint: Sequence[str], out: Path) -> Path:
    """A docker-archive tarball of busybox-static with `entrypoint`, for `ctr images import`."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for directory in ("bin", "tmp", "etc", "proc", "sys", "dev", "www"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(str(BUSYBOX), "bin/busybox")
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        for path, content in (
            ("etc/passwd", b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n"),
            ("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
        ):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Entrypoint": list(entrypoint), "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [name], "Layers": ["layer/layer.tar"]}]
    with tarfile.open(out, "w") as tar:
        for member, data in (
            ("layer/layer.tar", layer_bytes),
            (config_name, config),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


@dataclass
class _Program:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} ---\n" + "\n".join(text[-lines:])


@dataclass(frozen=True)
class RealNode:
    name: str
    taint_key: str
    log_dir: Path


class RealNodeError(RuntimeError):
    """The node did not come up; the programs' logs are in the message."""


def _sysctls() -> dict[str, str]:
    return {key: (Path("/proc/sys") / key).read_text().strip() for key in GLOBAL_SYSCTLS}


def _netns_sysctls(enter: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key in NETNS_SYSCTLS:
        result = subprocess.run(
            [*enter, "sysctl", "-n", key], capture_output=True, text=True, timeout=10, check=False
        )
        if result.returncode == 0:
            found[key] = result.stdout.strip()
    return found


def _restore_netns_sysctls(enter: list[str], saved: dict[str, str]) -> None:
    for key, value in saved.items():
        subprocess.run(
            [*enter, "sysctl", "-q", "-w", f"{key}={value}"],
            capture_output=True,
            timeout=10,
            check=False,
        )


def _restore_sysctls(saved: dict[str, str]) -> None:
    for key, value in saved.items():
        path = Path("/proc/sys") / key
        with contextlib.suppress(OSError):
            if path.read_text().strip() != value:
                path.write_text(value)


def _containerd_config(work: Path) -> str:
    return f"""version = 2
root = "{work}/root"
state = "{work}/state"
[grpc]
  address = "{work}/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "{PAUSE_IMAGE}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{work}/cni"
"""


def _cni_config() -> str:
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": CNI_NETWORK,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_SUBNET}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
    )


def _node_ready(admin: KubeAdmin) -> bool:
    node = admin.get(f"/api/v1/nodes/{NODE_NAME}")
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@contextmanager
def running_real_node(
    namespace: str, cluster: KubernetesCluster, kubeconfig: Path, work: Path
) -> Iterator[RealNode]:
    """containerd, kubelet and kube-proxy with `namespace`'s network; all undone on exit.

    `kubeconfig` must reach the API server from inside the namespace.
    """
    work.mkdir(parents=True, exist_ok=True)
    (work / "cni").mkdir(exist_ok=True)
    (work / "cni" / "10-sinfonia.conflist").write_text(_cni_config())
    config = work / "containerd.toml"
    config.write_text(_containerd_config(work))
    socket = work / "containerd.sock"
    enter = ["nsenter", f"--net=/run/netns/{namespace}", "--"]
    bin_dir = k8s_bin_dir()
    programs: list[_Program] = []
    saved = _sysctls()
    saved_in_namespace = _netns_sysctls(enter)
    admin = KubeAdmin(cluster)
    before = _host_state()

    def start(name: str, argv: list[str]) -> _Program:
        log_path = work / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            [*enter, *argv], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        program = _Program(name, popen, log_path, log)
        programs.append(program)
        return program

    def wait(what: str, check: object) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                if check():  # type: ignore[operator]
                    return
            except Exception as exc:  # not up yet
                logger.debug("%s: %s", what, exc)
            for program in programs:
                if program.popen.poll() is not None:
                    raise RealNodeError(
                        f"{program.name} exited waiting for {what}\n{program.tail()}"
                    )
            if time.monotonic() > deadline:
                logs = "\n".join(program.tail() for program in programs)
                raise RealNodeError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.2)

    ctr = ["ctr", "--address", str(socket), "--namespace", "k8s.io"]
    try:
        start("containerd", ["containerd", "--config", str(config)])
        wait("containerd's socket", lambda: run_checked([*ctr, "version"], timeout=5))
        for name, entrypoint in (
            (PAUSE_IMAGE, ["/bin/sleep", "2147483647"]),
            (WEB_IMAGE, ["/bin/sh"]),
        ):
            tarball = build_image(name, entrypoint, work / f"{name.rsplit('/', 1)[-1]}.tar")
            run_checked([*ctr, "images", "import", str(tarball)], timeout=60)
        kubelet_port, healthz_port, proxy_metrics, proxy_healthz = free_ports(4)
        start(
            "kubelet",
            [
                str(bin_dir / "kubelet"),
                f"--kubeconfig={kubeconfig}",
                f"--hostname-override={NODE_NAME}",
                "--container-runtime=remote",
                f"--container-runtime-endpoint=unix://{socket}",
                f"--root-dir={work / 'kubelet'}",
                f"--cert-dir={work / 'kubelet-pki'}",
                f"--pod-infra-container-image={PAUSE_IMAGE}",
                f"--register-with-taints={TAINT_KEY}=true:NoSchedule",
                f"--node-labels={TAINT_KEY}=true",
                "--fail-swap-on=false",
                "--node-status-update-frequency=2s",
                "--cgroup-driver=cgroupfs",
                "--cgroups-per-qos=false",
                "--enforce-node-allocatable=",
                "--eviction-hard=",
                "--image-gc-high-threshold=100",
                "--anonymous-auth=false",
                "--authorization-mode=AlwaysAllow",
                "--read-only-port=0",
                f"--port={kubelet_port}",
                f"--healthz-port={healthz_port}",
                "--healthz-bind-address=127.0.0.1",
                "--address=127.0.0.1",
                "--resolv-conf=",
                "--v=1",
            ],
        )
        wait(f"node {NODE_NAME} Ready", lambda: _node_ready(admin))
        start(
            "kube-proxy",
            [
                str(bin_dir / "kube-proxy"),
                f"--kubeconfig={kubeconfig}",
                f"--hostname-override={NODE_NAME}",
                "--proxy-mode=iptables",
                f"--cluster-cidr={POD_SUBNET}",
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                f"--metrics-bind-address=127.0.0.1:{proxy_metrics}",
                f"--healthz-bind-address=127.0.0.1:{proxy_healthz}",
            ],
        )
        wait(
            "kube-proxy's rules",
            lambda: (
                "KUBE-SERVICES"
                in run_checked([*enter, "iptables-save", "-t", "nat"], timeout=10).stdout
            ),
        )
        yield RealNode(NODE_NAME, TAINT_KEY, work)
    finally:
        _tear_down(programs, ctr, enter, bin_dir, admin, namespace)
        _remove_host_state(before, work)
        _restore_netns_sysctls(enter, saved_in_namespace)
        _restore_sysctls(saved)


def _evict_pods(admin: KubeAdmin) -> None:
    """Delete the node's pods with their namespaces (else their ReplicaSets make new ones),
    and wait (bounded) for the kubelet to stop their sandboxes."""
    selector = urllib.parse.quote(f"spec.nodeName={NODE_NAME}")
    deadline = time.monotonic() + 60
    deleted: set[str] = set()
    while time.monotonic() < deadline:
        pods = admin.get(f"/api/v1/pods?fieldSelector={selector}")["items"]
        if not pods:
            return
        for pod in pods:
            namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if namespace not in deleted:
                admin.request("DELETE", f"/api/v1/namespaces/{namespace}")
                deleted.add(namespace)
            path = f"/api/v1/namespaces/{namespace}/pods/{name}"
            admin.request("DELETE", path, {"gracePeriodSeconds": 0})
        time.sleep(0.5)
    logger.warning("pods on %s were not all gone within 60s", NODE_NAME)


def _tear_down(
    programs: list[_Program],
    ctr: list[str],
    enter: list[str],
    bin_dir: Path,
    admin: KubeAdmin,
    namespace: str,
) -> None:
    by_name = {program.name: program for program in programs}
    kubelet = by_name.get("kubelet")
    if kubelet is not None and kubelet.popen.poll() is None:
        _evict_pods(admin)
    for name in ("kube-proxy", "kubelet"):
        if name in by_name:
            stop_popen(by_name[name].popen, name, timeout=STOP_TIMEOUT)
    if "kube-proxy" in by_name:
        subprocess.run(
            [*enter, str(bin_dir / "kube-proxy"), "--cleanup"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    if "containerd" in by_name and by_name["containerd"].popen.poll() is None:
        _remove_containers(ctr)
        stop_popen(by_name["containerd"].popen, "containerd", timeout=STOP_TIMEOUT)
    for program in programs:
        program.log.close()
    _kill_shims(namespace)
    subprocess.run(
        ["ip", "-n", namespace, "link", "delete", "cni0"], capture_output=True, check=False
    )
    admin.request("DELETE", f"/api/v1/nodes/{NODE_NAME}")


@dataclass(frozen=True)
class _HostState:
    """What exists on the host before the node starts: only what is new is removed."""

    netns: frozenset[str]
    cni_results: frozenset[str]


CNI_STATE = Path("/var/lib/cni")
NETNS_DIR = Path("/run/netns")
CNI_NETWORK = "sinfonia-real-pods"


def _host_state() -> _HostState:
    results = CNI_STATE / "results"
    return _HostState(
        netns=frozenset(p.name for p in NETNS_DIR.glob("cni-*")),
        cni_results=frozenset(p.name for p in results.glob("*"))
        if results.is_dir()
        else frozenset(),
    )


def _remove_host_state(before: _HostState, work: Path) -> None:
    """Pod network namespaces, mounts and CNI records the node left behind."""
    after = _host_state()
    for name in sorted(after.netns - before.netns):
        subprocess.run(
            ["ip", "netns", "delete", name], capture_output=True, timeout=10, check=False
        )
    for name in sorted(after.cni_results - before.cni_results):
        (CNI_STATE / "results" / name).unlink(missing_ok=True)
    shutil.rmtree(CNI_STATE / "networks" / CNI_NETWORK, ignore_errors=True)
    mounts = [
        line.split()[1]
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(work))
    ]
    for mountpoint in sorted(mounts, key=len, reverse=True):  # deepest first
        subprocess.run(["umount", "-l", mountpoint], capture_output=True, timeout=10, check=False)


def _remove_containers(ctr: list[str]) -> None:
    """Every task killed and every container deleted, so no shim or mount is left."""
    listing = subprocess.run(
        [*ctr, "tasks", "list", "-q"], capture_output=True, text=True, timeout=30, check=False
    )
    for task in listing.stdout.split():
        subprocess.run([*ctr, "tasks", "kill", "-s", "SIGKILL", task], timeout=30, check=False)
    deadline = time.monotonic() + 20
    for task in listing.stdout.split():
        while time.monotonic() < deadline:
            result = subprocess.run(
                [*ctr, "tasks", "delete", task], capture_output=True, timeout=30, check=False
            )
            if result.returncode == 0 or b"not found" in result.stderr:
                break
            time.sleep(0.2)
    containers = subprocess.run(
        [*ctr, "containers", "list", "-q"], capture_output=True, text=True, timeout=30, check=False
    )
    for container in containers.stdout.split():
        subprocess.run([*ctr, "containers", "delete", container], timeout=30, check=False)


def _kill_shims(namespace: str) -> None:
    """containerd's shims outlive it; they run with the namespace's network."""
    listing = subprocess.run(
        ["ip", "netns", "pids", namespace], capture_output=True, text=True, timeout=10, check=False
    )
    for pid in listing.stdout.split():
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/comm").read_text().strip()
            if command.startswith("containerd-shim"):
                os.kill(int(pid), signal.SIGTERM)
