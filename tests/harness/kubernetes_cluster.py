"""A real Kubernetes control plane on loopback: PKI, etcd, apiserver, controllers, fake kubelet."""

from __future__ import annotations

import json
import logging
import os
import secrets
import ssl
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client
import yaml

from tests.harness.processes import (
    ManagedProcess,
    free_ports,
    http_get,
    run_checked,
    start_process,
    stop_all,
    wait_until,
)
from tests.harness.requirements import ComponentUnavailableError, require_executable

logger = logging.getLogger(__name__)

#: Where deploy/dev/build-kubernetes.sh caches the Kubernetes binaries.
DEFAULT_K8S_BIN = Path("/opt/sinfonia/k8s/bin")
CONTROL_PLANE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
REPO_ROOT = Path(__file__).resolve().parents[2]
FAKE_KUBELET = REPO_ROOT / "deploy" / "dev" / "fake_kubelet.py"
NODE_NAME = "sinfonia-fake-node"
#: Cluster-internal ranges: written into API objects only, never routed or contacted.
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
#: How long the fake kubelet may run before it stops by itself (longer than any CI run).
FAKE_KUBELET_MAX_RUNTIME = 3 * 3600


def k8s_bin_dir() -> Path:
    """Directory with the Kubernetes binaries: ``$SINFONIA_K8S_BIN`` or the cache default."""
    return Path(os.environ.get("SINFONIA_K8S_BIN", str(DEFAULT_K8S_BIN)))


def check_prerequisites() -> None:
    """Raise `ComponentUnavailableError` when a program the cluster needs is missing."""
    component = "the Kubernetes harness"
    for name in CONTROL_PLANE_BINARIES:
        require_executable(component, name, k8s_bin_dir())
    require_executable(component, "etcd")
    require_executable(component, "openssl")
    if not FAKE_KUBELET.is_file():
        raise ComponentUnavailableError(f"{component} needs {FAKE_KUBELET.name}, not found")


@dataclass(frozen=True)
class KubernetesCluster:
    """Coordinates of a running test cluster; the admin token is in ``system:masters``."""

    kubeconfig: Path
    server: str
    ca_path: Path
    token: str
    node_name: str
    log_dir: Path

    def configuration(self, token: str | None = None) -> kubernetes.client.Configuration:
        """Build a `kubernetes.client.Configuration` for the server (admin token by default)."""
        config = kubernetes.client.Configuration()
        config.host = self.server
        config.ssl_ca_cert = str(self.ca_path)
        config.verify_ssl = True
        config.api_key = {"authorization": self.token if token is None else token}
        config.api_key_prefix = {"authorization": "Bearer"}
        return config

    @contextmanager
    def api_client(self, token: str | None = None) -> Iterator[kubernetes.client.ApiClient]:
        """Yield a `kubernetes.client.ApiClient` for the cluster and close it afterwards."""
        client = kubernetes.client.ApiClient(self.configuration(token))
        try:
            yield client
        finally:
            client.close()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _Pki:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    sa_key: Path
    sa_pub: Path


_EC_KEY = ("-pkeyopt", "ec_paramgen_curve:P-256")


def _openssl(*args: str) -> None:
    run_checked(["openssl", *args], timeout=30.0)


def make_pki(directory: Path) -> _Pki:
    """Create a CA, a serving certificate for 127.0.0.1 and a service-account key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = _Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "apiserver.crt",
        server_key=directory / "apiserver.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    csr = directory / "apiserver.csr"
    extensions = directory / "apiserver.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,"
        f"IP:{SERVICE_IP},DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n",
        encoding="utf-8",
    )
    # P-256 keys: as good as RSA here and ten times faster to generate.
    # -nodes: unencrypted keys; -subj: no prompt.
    _openssl(
        "req", "-x509", "-newkey", "ec", *_EC_KEY, "-nodes", "-days", "30",
        "-subj", "/CN=sinfonia-test-ca", "-keyout", str(pki.ca_key), "-out", str(pki.ca_cert),
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "ec", *_EC_KEY, "-nodes", "-subj", "/CN=kube-apiserver",
        "-keyout", str(pki.server_key), "-out", str(csr),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
        "-CAcreateserial", "-days", "30", "-extfile", str(extensions), "-out", str(pki.server_cert),
    )  # fmt: skip
    _openssl("genpkey", "-algorithm", "EC", *_EC_KEY, "-out", str(pki.sa_key))
    _openssl("pkey", "-in", str(pki.sa_key), "-pubout", "-out", str(pki.sa_pub))
    for key in (pki.ca_key, pki.server_key, pki.sa_key):
        key.chmod(0o600)
    return pki


def write_token_file(path: Path, token: str) -> None:
    """Write a static token file (``--token-auth-file``) making ``token`` a cluster admin."""
    path.write_text(f"{token},sinfonia-admin,sinfonia-admin,system:masters\n", encoding="utf-8")
    path.chmod(0o600)


def write_kubeconfig(path: Path, server: str, ca_path: Path, token: str) -> None:
    """Write a kubeconfig with one cluster, one token user and a current context."""
    name, user = "sinfonia-test", "sinfonia-admin"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority": str(ca_path)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)


class _ApiProbe:
    """Minimal authenticated GETs against the apiserver, for readiness checks."""

    def __init__(self, server: str, ca_path: Path, token: str) -> None:
        self._server = server
        self._token = token
        self._context = ssl.create_default_context(cafile=str(ca_path))

    def get(self, path: str) -> tuple[int, bytes]:
        return http_get(
            self._server + path,
            headers={"Authorization": f"Bearer {self._token}"},
            context=self._context,
            timeout=5,
        )

    def get_json(self, path: str) -> Any:
        _, body = self.get(path)
        return json.loads(body)

    def ready(self) -> bool:
        status, body = self.get("/readyz")
        return status == 200 and body.strip() == b"ok"

    def node_ready(self, name: str) -> bool:
        node = self.get_json(f"/api/v1/nodes/{name}")
        conditions = node.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def default_service_account_ready(self, needs_token_secret: bool) -> bool:
        account = self.get_json("/api/v1/namespaces/default/serviceaccounts/default")
        return not needs_token_secret or bool(account.get("secrets"))

    def uses_legacy_token_secrets(self) -> bool:
        """Before 1.24 pods are admitted only once their ServiceAccount has a token Secret."""
        version = self.get_json("/version")
        minor = int("".join(ch for ch in str(version.get("minor", "0")) if ch.isdigit()) or 0)
        return int(version.get("major", "1")) == 1 and minor < 24


def _http_ok(url: str, expect: bytes) -> bool:
    status, body = http_get(url)
    return status == 200 and expect in body


@contextmanager
def running_cluster(workdir: Path, *, timeout: float = 90.0) -> Iterator[KubernetesCluster]:
    """Start etcd, the control plane and the fake kubelet; stop them all on exit."""
    bin_dir = k8s_bin_dir()
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / "logs"
    started = time.monotonic()
    pki = make_pki(workdir / "pki")
    token = secrets.token_hex(16)
    token_file = workdir / "tokens.csv"
    write_token_file(token_file, token)
    api_port, etcd_client_port, etcd_peer_port = free_ports(3)
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = workdir / "kubeconfig"
    write_kubeconfig(kubeconfig, server, pki.ca_cert, token)
    logger.info("kubernetes PKI and kubeconfig ready in %.2fs", time.monotonic() - started)

    processes: list[ManagedProcess] = []
    try:
        etcd_client = f"http://127.0.0.1:{etcd_client_port}"
        etcd_peer = f"http://127.0.0.1:{etcd_peer_port}"
        etcd = start_process(
            "etcd",
            [
                "etcd", "--name=default", f"--data-dir={workdir / 'etcd'}", "--logger=zap",
                f"--listen-client-urls={etcd_client}", f"--advertise-client-urls={etcd_client}",
                f"--listen-peer-urls={etcd_peer}", f"--initial-advertise-peer-urls={etcd_peer}",
                f"--initial-cluster=default={etcd_peer}", "--initial-cluster-state=new",
            ],
            logs,
        )  # fmt: skip
        processes.append(etcd)
        took = wait_until(
            lambda: _http_ok(f"{etcd_client}/health", b'"health":"true"'),
            timeout=timeout,
            what="etcd /health",
            processes=[etcd],
        )
        logger.info("etcd healthy after %.2fs", took)

        apiserver = start_process(
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_client}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}", "--insecure-port=0",
                f"--cert-dir={workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki.server_cert}", f"--tls-private-key-file={pki.server_key}",
                f"--client-ca-file={pki.ca_cert}", f"--token-auth-file={token_file}",
                "--authorization-mode=Node,RBAC",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--profiling=false",
            ],
            logs,
        )  # fmt: skip
        processes.append(apiserver)
        probe = _ApiProbe(server, pki.ca_cert, token)
        took = wait_until(
            probe.ready, timeout=timeout, what="kube-apiserver /readyz", processes=[apiserver]
        )
        logger.info("kube-apiserver ready after %.2fs", took)

        processes.append(
            start_process(
                "kube-controller-manager",
                [
                    str(bin_dir / "kube-controller-manager"),
                    f"--kubeconfig={kubeconfig}", "--leader-elect=false",
                    "--port=0", "--secure-port=0", "--controllers=*",
                    f"--service-account-private-key-file={pki.sa_key}",
                    f"--root-ca-file={pki.ca_cert}", "--use-service-account-credentials=false",
                    "--profiling=false",
                ],
                logs,
            )
        )  # fmt: skip
        processes.append(
            start_process(
                "kube-scheduler",
                [
                    str(bin_dir / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
                    "--leader-elect=false", "--port=0", "--secure-port=0", "--profiling=false",
                ],
                logs,
            )
        )  # fmt: skip
        processes.append(
            start_process(
                "fake-kubelet",
                [
                    sys.executable, str(FAKE_KUBELET), f"--kubeconfig={kubeconfig}",
                    f"--node-name={NODE_NAME}", f"--max-runtime={FAKE_KUBELET_MAX_RUNTIME}",
                ],
                logs,
            )
        )  # fmt: skip
        took = wait_until(
            lambda: probe.node_ready(NODE_NAME),
            timeout=timeout,
            what=f"node {NODE_NAME} Ready",
            processes=processes,
        )
        logger.info("node %s Ready after %.2fs", NODE_NAME, took)
        needs_token_secret = probe.uses_legacy_token_secrets()
        took = wait_until(
            lambda: probe.default_service_account_ready(needs_token_secret),
            timeout=timeout,
            what="ServiceAccount default/default",
            processes=processes,
        )
        logger.info("ServiceAccount default/default present after %.2fs", took)

        yield KubernetesCluster(
            kubeconfig=kubeconfig,
            server=server,
            ca_path=pki.ca_cert,
            token=token,
            node_name=NODE_NAME,
            log_dir=logs,
        )
    finally:
        stop_all(processes)
