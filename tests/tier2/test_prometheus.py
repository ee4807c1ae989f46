"""Load figures from real Prometheus: live node-exporter, fixed multi-node data, and an outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.harness.processes import (
    free_port,
    http_get,
    run_checked,
    start_process,
    stop_process,
    wait_until,
)
from tests.harness.prometheus_stack import PrometheusServer
from tests.harness.requirements import require, require_executable
from tests.tier2.conftest import SettingsFactory, eventually
from tier2.app import create_app
from tier2.hostmetrics import HostLoad
from tier2.prometheus import PrometheusLoad

pytestmark = pytest.mark.prometheus

EXCLUDE = "lo|veth.*"


def _source(url: str, window: str = "1m") -> PrometheusLoad:
    return PrometheusLoad(url, query_timeout=2.0, window=window, device_exclude=EXCLUDE)


async def test_live_node_exporter_figures_are_known_and_sane(prometheus: PrometheusServer) -> None:
    source = _source(prometheus.url)
    deadline = time.monotonic() + 15
    sample = await source.fetch()
    while sample.cluster.cpu_utilization is None and time.monotonic() < deadline:
        await asyncio.sleep(0.5)  # rate() needs a second scrape
        sample = await source.fetch()
    load = sample.cluster
    assert load.cpu_utilization is not None
    assert 0.0 <= load.cpu_utilization <= 1.0
    assert load.network_rx_bytes_per_second is not None
    assert load.network_rx_bytes_per_second >= 0.0
    assert load.gpu_utilization is None  # no DCGM exporter: unknown, not 0
    # node-exporter and /proc read the same kernel: memory use agrees closely.
    host = (await HostLoad(device_exclude=EXCLUDE).fetch()).cluster.memory_utilization
    assert load.memory_utilization is not None
    assert host is not None
    assert abs(load.memory_utilization - host) < 0.05
    instance = prometheus.node_exporter_url.removeprefix("http://")
    assert list(sample.nodes) == [instance]
    assert sample.nodes[instance].cpu_utilization is not None


async def test_an_unreachable_prometheus_makes_every_figure_unknown() -> None:
    started = time.monotonic()
    sample = await _source(f"http://127.0.0.1:{free_port()}").fetch()
    assert sample.cluster.cpu_utilization is None
    assert sample.cluster.memory_utilization is None
    assert sample.cluster.network_rx_bytes_per_second is None
    assert sample.nodes == {}
    assert time.monotonic() - started < 5


def test_st2_reports_unknown_load_while_prometheus_is_down(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        metrics={"prometheus_url": f"http://127.0.0.1:{free_port()}", "interval": 0.1}
    )
    with TestClient(create_app(settings)) as client:
        assert eventually(
            lambda: client.get("/api/v2/cloudlet").json()["load"]["taken"] is not None
        )
        load = client.get("/api/v2/cloudlet").json()["load"]["cluster"]
        assert set(load.values()) == {None}
        assert "sinfonia_tier2_metrics_source_up 0.0" in client.get("/metrics").text


# -- two nodes of different sizes, backfilled with promtool, served by a second Prometheus --

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
STEP = 15
SAMPLES = 40  # ten minutes
NODES = {
    # instance: (cpus, busy, memory total, memory available, rx bytes/s)
    "big-busy:9100": (2, True, 4 * 2**30, 1 * 2**30, 1000.0),
    "small-idle:9100": (6, False, 12 * 2**30, 12 * 2**30, 3000.0),
}


def _openmetrics() -> str:
    times = [START.timestamp() + i * STEP for i in range(SAMPLES)]
    lines = ["# TYPE node_cpu_seconds counter"]
    for instance, (cpus, busy, *_rest) in NODES.items():
        for cpu in range(cpus):
            for mode in ("idle", "user"):
                per_second = 1.0 if (mode == "user") == busy else 0.0
                labels = f'cpu="{cpu}",instance="{instance}",job="node",mode="{mode}"'
                lines += [
                    f"node_cpu_seconds_total{{{labels}}} {per_second * (t - times[0]) + 100} {t}"
                    for t in times
                ]
    for name, index in (("node_memory_MemTotal_bytes", 2), ("node_memory_MemAvailable_bytes", 3)):
        lines.append(f"# TYPE {name} gauge")
        for instance, figures in NODES.items():
            lines += [
                f'{name}{{instance="{instance}",job="node"}} {figures[index]} {t}' for t in times
            ]
    lines.append("# TYPE node_network_receive_bytes counter")
    for instance, figures in NODES.items():
        for device, rate in (("eth0", figures[4]), ("lo", 1e9)):
            labels = f'device="{device}",instance="{instance}",job="node"'
            lines += [
                f"node_network_receive_bytes_total{{{labels}}} {rate * (t - times[0])} {t}"
                for t in times
            ]
    lines.append("# TYPE DCGM_FI_DEV_GPU_UTIL gauge")
    for gpu, value in (("0", 50), ("1", 100)):
        labels = f'gpu="{gpu}",instance="big-busy:9100",job="dcgm"'
        lines += [f"DCGM_FI_DEV_GPU_UTIL{{{labels}}} {value} {t}" for t in times]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _check_promtool() -> None:
    for program in ("promtool", "prometheus"):
        require_executable("the backfilled Prometheus", program)


@pytest.fixture(scope="module")
def backfilled_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require(_check_promtool)
    work = tmp_path_factory.mktemp("backfill")
    data = work / "openmetrics.txt"
    data.write_text(_openmetrics())
    storage = work / "tsdb"
    run_checked(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(data), str(storage)],
        timeout=120,
    )
    config = work / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1m}\n")
    port = free_port()
    process = start_process(
        "prometheus-backfilled",
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        work / "logs",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http_get(f"{url}/-/ready")[0] == 200,
            timeout=30,
            what="Prometheus ready",
            processes=[process],
        )
        yield url
    finally:
        stop_process(process)


async def test_multi_node_figures_weigh_nodes_by_their_size(backfilled_prometheus: str) -> None:
    at = datetime.fromtimestamp(START.timestamp() + (SAMPLES - 2) * STEP, UTC)
    sample = await _source(backfilled_prometheus).fetch(at=at)
    cluster = sample.cluster
    # 2 busy CPUs of 8: 0.25 (a mean of the two nodes' figures would say 0.5).
    assert cluster.cpu_utilization == pytest.approx(0.25, abs=1e-6)
    # 3 GiB used of 16 GiB: 0.1875 (a mean of ratios would say 0.375).
    assert cluster.memory_utilization == pytest.approx(3 / 16, abs=1e-6)
    # eth0 of both nodes; loopback left out.
    assert cluster.network_rx_bytes_per_second == pytest.approx(4000.0, rel=1e-6)
    assert cluster.gpu_utilization == pytest.approx(0.75, abs=1e-6)
    busy, idle = sample.nodes["big-busy:9100"], sample.nodes["small-idle:9100"]
    assert busy.cpu_utilization == pytest.approx(1.0, abs=1e-6)
    assert idle.cpu_utilization == pytest.approx(0.0, abs=1e-6)
    assert busy.memory_utilization == pytest.approx(0.75, abs=1e-6)
    assert idle.network_rx_bytes_per_second == pytest.approx(3000.0, rel=1e-6)
    assert busy.gpu_utilization == pytest.approx(0.75, abs=1e-6)
    assert idle.gpu_utilization is None
