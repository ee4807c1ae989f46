"""Smoke test: the prometheus fixture serves node-exporter data through prometheus-api-client."""

from __future__ import annotations

import pytest
from prometheus_api_client import PrometheusConnect

from tests.harness.processes import http_get
from tests.harness.prometheus_stack import PrometheusServer

pytestmark = pytest.mark.prometheus


def test_up_reports_the_node_job(prometheus: PrometheusServer) -> None:
    with PrometheusConnect(url=prometheus.url, disable_ssl=True) as client:
        result = client.custom_query("up")
    by_job = {sample["metric"]["job"]: sample["value"][1] for sample in result}
    assert by_job.get(prometheus.job) == "1"


def test_node_exporter_metrics_are_scraped(prometheus: PrometheusServer) -> None:
    with PrometheusConnect(url=prometheus.url, disable_ssl=True) as client:
        cpu = client.custom_query(f'node_cpu_seconds_total{{job="{prometheus.job}"}}')
    assert cpu, "no node_cpu_seconds_total series scraped"
    assert {sample["metric"]["mode"] for sample in cpu} >= {"idle", "user", "system"}
    assert all(float(sample["value"][1]) >= 0 for sample in cpu)


def test_node_exporter_serves_metrics_directly(prometheus: PrometheusServer) -> None:
    status, body = http_get(f"{prometheus.node_exporter_url}/metrics", timeout=5)
    assert status == 200
    assert b"node_cpu_seconds_total" in body
