"""Pytest fixtures that start the harness's real programs lazily, once per session."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import TypeVar

import pytest

from tests.harness import kubernetes_cluster as k8s
from tests.harness import netns, prometheus_stack
from tests.harness import redis_server as redis_harness
from tests.harness.requirements import require
from tests.harness.timing import STARTUP_TIMES_FILE, StartupTimes

logger = logging.getLogger(__name__)

_STARTUP_TIMES = pytest.StashKey[StartupTimes]()
T = TypeVar("T")


def _started(
    startup_times: StartupTimes, fixture: str, manager: AbstractContextManager[T]
) -> Iterator[T]:
    """Enter ``manager`` timing its start-up, yield its value, exit it at teardown."""
    with ExitStack() as stack:
        with startup_times.measure(fixture):
            value = stack.enter_context(manager)
        yield value


@pytest.fixture(scope="session")
def harness_startup_times(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> StartupTimes:
    """Where fixtures record their start-up durations (``<basetemp>/startup-times.txt``)."""
    times = StartupTimes(tmp_path_factory.getbasetemp() / STARTUP_TIMES_FILE)
    request.config.stash[_STARTUP_TIMES] = times
    return times


@pytest.fixture(scope="session")
def kubernetes_cluster(
    tmp_path_factory: pytest.TempPathFactory, harness_startup_times: StartupTimes
) -> Iterator[k8s.KubernetesCluster]:
    """etcd, kube-apiserver, controller-manager, scheduler and the fake kubelet, on loopback."""
    require(k8s.check_prerequisites)
    workdir = tmp_path_factory.mktemp("kubernetes")
    yield from _started(harness_startup_times, "kubernetes_cluster", k8s.running_cluster(workdir))


@pytest.fixture(scope="session")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, harness_startup_times: StartupTimes
) -> Iterator[prometheus_stack.PrometheusServer]:
    """Prometheus scraping node-exporter every second; ``up{job="node"}`` is 1 on return."""
    require(prometheus_stack.check_prerequisites)
    workdir = tmp_path_factory.mktemp("prometheus")
    yield from _started(
        harness_startup_times, "prometheus", prometheus_stack.running_prometheus(workdir)
    )


@pytest.fixture(scope="session")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory, harness_startup_times: StartupTimes
) -> Iterator[redis_harness.RedisServer]:
    """A redis-server on a free loopback port, without persistence."""
    require(redis_harness.check_prerequisites)
    workdir = tmp_path_factory.mktemp("redis")
    yield from _started(harness_startup_times, "redis_server", redis_harness.running_redis(workdir))


@pytest.fixture(scope="session")
def netns_hosts(
    tmp_path_factory: pytest.TempPathFactory, harness_startup_times: StartupTimes
) -> Iterator[netns.NetnsHosts]:
    """A device namespace and two cloudlet namespaces joined by veth links (needs root)."""
    require(netns.check_prerequisites)
    workdir = tmp_path_factory.mktemp("netns")
    yield from _started(harness_startup_times, "netns_hosts", netns.running_netns_hosts(workdir))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter,
    exitstatus: int,
    config: pytest.Config,
) -> None:
    """Print how long each harness fixture took to start."""
    del exitstatus
    times = config.stash.get(_STARTUP_TIMES, None)
    if times is None or not times.records:
        return
    terminalreporter.write_sep("-", "harness fixture startup times")
    for record in times.records:
        terminalreporter.write_line(f"{record.fixture:<22} {record.seconds:7.2f}s")
    terminalreporter.write_line(f"(written to {times.path})")
