"""Real Prometheus scraping a real node-exporter every second, both on loopback."""

from __future__ import annotations

import json
import logging
import shutil
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.harness.processes import (
    ManagedProcess,
    free_ports,
    http_get,
    start_process,
    stop_all,
    wait_until,
)
from tests.harness.requirements import ComponentUnavailableError, require_executable

logger = logging.getLogger(__name__)

NODE_EXPORTER_CANDIDATES = ("prometheus-node-exporter", "node_exporter")
NODE_JOB = "node"
SCRAPE_INTERVAL = "1s"


def node_exporter_binary() -> str:
    """Path of node-exporter (Debian names it ``prometheus-node-exporter``)."""
    for name in NODE_EXPORTER_CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise ComponentUnavailableError(
        "the Prometheus harness needs prometheus-node-exporter (or node_exporter), not on PATH"
    )


def check_prerequisites() -> None:
    """Raise `ComponentUnavailableError` when prometheus or node-exporter is missing."""
    require_executable("the Prometheus harness", "prometheus")
    node_exporter_binary()


@dataclass(frozen=True)
class PrometheusServer:
    """A Prometheus whose job ``node`` scrapes one node-exporter."""

    url: str
    node_exporter_url: str
    job: str
    log_dir: Path


def _get(url: str) -> bytes:
    return http_get(url)[1]


def _node_up(url: str) -> bool:
    query = urllib.parse.urlencode({"query": f'up{{job="{NODE_JOB}"}} == 1'})
    document = json.loads(_get(f"{url}/api/v1/query?{query}"))
    return document.get("status") == "success" and bool(document["data"]["result"])


def write_config(path: Path, node_exporter_address: str) -> None:
    """Write a prometheus.yml scraping ``node_exporter_address`` every second."""
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {"job_name": NODE_JOB, "static_configs": [{"targets": [node_exporter_address]}]}
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


@contextmanager
def running_prometheus(workdir: Path, *, timeout: float = 60.0) -> Iterator[PrometheusServer]:
    """Start node-exporter and Prometheus; wait until ``up{job="node"} == 1`` is queryable."""
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / "logs"
    exporter_port, prometheus_port = free_ports(2)
    exporter_address = f"127.0.0.1:{exporter_port}"
    url = f"http://127.0.0.1:{prometheus_port}"
    config = workdir / "prometheus.yml"
    write_config(config, exporter_address)

    processes: list[ManagedProcess] = []
    try:
        exporter = start_process(
            "node-exporter",
            [node_exporter_binary(), f"--web.listen-address={exporter_address}"],
            logs,
        )
        processes.append(exporter)
        server = start_process(
            "prometheus",
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
                "--web.enable-lifecycle",
            ],
            logs,
        )
        processes.append(server)
        wait_until(
            lambda: b"node_exporter_build_info" in _get(f"http://{exporter_address}/metrics"),
            timeout=timeout,
            what="node-exporter /metrics",
            processes=[exporter],
        )
        took = wait_until(
            lambda: _get(f"{url}/-/ready").startswith(b"Prometheus"),
            timeout=timeout,
            what="Prometheus /-/ready",
            processes=[server],
        )
        logger.info("prometheus ready after %.2fs", took)
        # Prometheus applies new scrape targets on a fixed 5 s tick, so the first sample of
        # the node job lands about 6 s after start; tests need it, so wait here once.
        took = wait_until(
            lambda: _node_up(url),
            timeout=timeout,
            what=f'up{{job="{NODE_JOB}"}} == 1',
            processes=processes,
            interval=0.2,
        )
        logger.info("node job up after %.2fs more", took)
        yield PrometheusServer(
            url=url,
            node_exporter_url=f"http://{exporter_address}",
            job=NODE_JOB,
            log_dir=logs,
        )
    finally:
        stop_all(processes)
