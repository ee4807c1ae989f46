"""ST-2 deploy latencies against a real API server: cold deploy, lease renewal, release.

`python -m benchmarks.deploy_cloudlet` starts the test harness's cluster (etcd,
kube-apiserver, controller-manager, scheduler and the fake kubelet), runs ST-2
in-process with the Kubernetes driver and drives its native API through an
ASGI transport, then prints one JSON line of figures in milliseconds. With
`--kubeconfig` it uses an existing cluster instead.

Cold: namespace, quota, policy, manifests, until the pods are ready. Renew:
the same request again (the lease is written to the namespace). Release:
DELETE (the namespace is deleted; the API answers once deletion is accepted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from wireguard_tools import WireguardKey

from common.keys import urlsafe_key
from tests.harness.kubernetes_cluster import check_prerequisites, running_cluster
from tier2.app import create_app
from tier2.settings import Tier2Settings

APP = uuid.UUID("00000000-0000-4000-8000-00000000be01")


def _recipe() -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "uuid": str(APP),
        "name": "bench",
        "kubernetes": {
            "manifests": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "web"},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "web", "image": "bench/web:1"}]},
                        },
                    },
                },
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "web"},
                    "spec": {"selector": labels, "ports": [{"port": 80, "protocol": "TCP"}]},
                },
            ]
        },
    }


@contextmanager
def _kubeconfig(given: Path | None, workdir: Path) -> Iterator[Path]:
    if given is not None:
        yield given
        return
    check_prerequisites()
    with running_cluster(workdir / "cluster") as cluster:
        yield cluster.kubeconfig


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _measure(settings: Tier2Settings, deployments: int, renewals: int) -> dict[str, Any]:
    app = create_app(settings)
    keys = [str(WireguardKey.generate().public_key()) for _ in range(deployments)]
    cold: list[float] = []
    renew: list[float] = []
    release: list[float] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://st2") as client:
            for key in keys:
                body = {"app": str(APP), "client_public_key": key}
                started = time.perf_counter()
                response = await client.post("/api/v2/deployments", json=body)
                cold.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise RuntimeError(f"cold deploy: {response.status_code} {response.text}")
                for _ in range(renewals):
                    started = time.perf_counter()
                    response = await client.post("/api/v2/deployments", json=body)
                    renew.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise RuntimeError(f"renewal: {response.status_code} {response.text}")
            for key in keys:
                started = time.perf_counter()
                response = await client.delete(f"/api/v2/deployments/{APP}/{urlsafe_key(key)}")
                release.append(time.perf_counter() - started)
                if response.status_code != 204:
                    raise RuntimeError(f"release: {response.status_code} {response.text}")

    def ms(values: Sequence[float], fraction: float) -> float:
        return round(_percentile(values, fraction) * 1000.0, 2)

    return {
        "cold_p50_ms": ms(cold, 0.5),
        "renew_p50_ms": ms(renew, 0.5),
        "release_p50_ms": ms(release, 0.5),
        "cold_p95_ms": ms(cold, 0.95),
        "renew_p95_ms": ms(renew, 0.95),
        "release_p95_ms": ms(release, 0.95),
        "cold_mean_ms": round(statistics.fmean(cold) * 1000.0, 2),
        "deployments": deployments,
        "renewals": len(renew),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deployments", type=int, default=10, help="cold deploys (and releases)")
    parser.add_argument("--renewals", type=int, default=10, help="renewals per deployment")
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster, not a harness one")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="st2-bench-")))
        kubeconfig = stack.enter_context(_kubeconfig(args.kubeconfig, workdir))
        recipes = workdir / "recipes"
        recipes.mkdir()
        (recipes / "bench.yaml").write_text(yaml.safe_dump(_recipe()))
        settings = Tier2Settings.model_validate(
            {
                "api_url": "http://127.0.0.1:5001",
                "state_dir": str(workdir / "state"),
                "recipes_dir": str(recipes),
                "trusted_tier1_networks": ["127.0.0.0/8"],
                "driver": "kubernetes",
                "kubernetes": {"kubeconfig": str(kubeconfig), "ready_timeout": 60},
                "lifecycle": {"gc_interval": 3600},
                "metrics": {"interval": 3600},
                "log_level": "warning",
            }
        )
        figures = asyncio.run(_measure(settings, args.deployments, args.renewals))
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
