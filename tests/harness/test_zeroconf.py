"""Smoke test: a zeroconf service registered in a cloudlet namespace is browsed from the device."""

from __future__ import annotations

import json

import pytest

from tests.harness.mdns import (
    REPO_ROOT,
    SERVICE_TYPE,
    agent_argv,
    popen_python,
    read_json_line,
    run_python,
)
from tests.harness.netns import NetnsHosts
from tests.harness.processes import stop_popen

pytestmark = [pytest.mark.zeroconf, pytest.mark.netns]

BROWSE_TIMEOUT = 10.0


def test_python_snippet_runs_inside_a_namespace(netns_hosts: NetnsHosts) -> None:
    cloudlet = netns_hosts.cloudlets[0]
    result = run_python(
        netns_hosts,
        cloudlet,
        "import json, os, sys; print(json.dumps(sorted(os.listdir('/sys/class/net'))))",
    )
    assert result.returncode == 0, result.stderr
    interfaces = json.loads(result.stdout)
    assert netns_hosts.link(cloudlet).cloudlet_interface in interfaces
    assert netns_hosts.link(cloudlet).device_interface not in interfaces


def test_service_registered_in_cloudlet_is_browsed_from_device(netns_hosts: NetnsHosts) -> None:
    cloudlet = netns_hosts.cloudlets[0]
    link = netns_hosts.link(cloudlet)
    txt = {"tier": "2", "api": f"http://{cloudlet.address}:8443", "version": "1"}
    registrar = popen_python(
        netns_hosts,
        cloudlet,
        agent_argv(
            "register",
            "--address", cloudlet.address,
            "--name", "cloudlet-one",
            "--port", "8443",
            *(f"--txt={key}={value}" for key, value in txt.items()),
            "--max-runtime", "60",
        ),
    )  # fmt: skip
    try:
        registered = read_json_line(registrar, timeout=BROWSE_TIMEOUT)
        assert registered["event"] == "registered"
        assert registered["name"] == f"cloudlet-one.{SERVICE_TYPE}"

        browse = netns_hosts.run(
            netns_hosts.device,
            agent_argv(
                "browse",
                "--address", link.device_address,
                "--expect", "cloudlet-one",
                "--timeout", str(BROWSE_TIMEOUT),
            ),
            timeout=BROWSE_TIMEOUT + 10,
            cwd=REPO_ROOT,
        )  # fmt: skip
        assert browse.returncode == 0, browse.stdout + browse.stderr
        found = json.loads(browse.stdout.strip().splitlines()[-1])
        assert found["event"] == "found"
        assert found["name"] == f"cloudlet-one.{SERVICE_TYPE}"
        assert found["addresses"] == [cloudlet.address]
        assert found["port"] == 8443
        assert found["properties"] == txt
        assert found["seconds"] < BROWSE_TIMEOUT
    finally:
        stop_popen(registrar, "mdns registrar")
    assert registrar.returncode == 0
