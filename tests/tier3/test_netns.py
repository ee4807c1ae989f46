"""The daemon on a device namespace: real wireguard-go tunnels, real Zeroconf, tc netem latency."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.mdns import REPO_ROOT, agent_argv, popen_python, read_json_line
from tests.harness.netns import NetnsHosts
from tests.harness.processes import stop_popen, wait_until
from tests.tier3.testbed import (
    TIER2_PORT,
    DeviceTestbed,
    added_latency,
    running_testbed,
    wait_for,
)
from tier3.sdk import Backend, Client, DeploymentNotFoundError

pytestmark = [pytest.mark.netns]


@pytest.fixture(scope="module")
def testbed(
    netns_hosts: NetnsHosts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeviceTestbed]:
    with running_testbed(netns_hosts, tmp_path_factory.mktemp("tier3-testbed")) as testbed:
        yield testbed


@pytest.fixture(scope="module")
def daemon_socket(testbed: DeviceTestbed) -> Iterator[Path]:
    """`sinfonia-tier3 serve` in the device namespace, on a Unix socket the test can reach."""
    socket_path = testbed.workdir / "tier3.sock"
    log = (testbed.workdir / "daemon.log").open("w")
    addresses = [arg for a in testbed.device.addresses for arg in ("-z", a)]
    process = testbed.hosts.popen(
        testbed.device,
        [
            sys.executable, "-m", "tier3.cli", "serve",
            "--unix-socket", str(socket_path),
            "--tier1-url", testbed.tier1_url,
            *addresses,
            "--log-level", "info",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        env={"XDG_CACHE_HOME": str(testbed.workdir / "daemon-cache")},
    )  # fmt: skip
    try:
        # httpcore leaks the socket of a failed Unix connect: wait for the file first.
        wait_until(
            lambda: process.poll() is None and socket_path.exists(),
            timeout=20,
            what="the Tier-3 daemon's socket",
        )
        with Client(uds=socket_path) as client:
            assert client.list_backends() == []
        yield socket_path
    finally:
        stop_popen(process, "tier3 daemon")
        log.close()
    logged = (testbed.workdir / "daemon.log").read_text()
    assert process.returncode == 0, logged
    assert "Application shutdown complete" in logged
    assert "Traceback" not in logged
    assert not socket_path.exists()


@pytest.fixture
def daemon(daemon_socket: Path) -> Iterator[Client]:
    with Client(uds=daemon_socket, timeout=60) as client:
        yield client


def _reaches(testbed: DeviceTestbed, url: str, body: str) -> None:
    result = testbed.fetch(url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == body


def _cannot_reach(testbed: DeviceTestbed, url: str) -> None:
    result = testbed.fetch(url, attempts=1)
    assert result.returncode == 1, result.stdout
    assert "unreachable" in result.stdout


def test_tunnel_reaches_the_backend_until_release(testbed: DeviceTestbed, daemon: Client) -> None:
    app = uuid.uuid4()
    first = testbed.cloudlets[0]
    _cannot_reach(testbed, first.backend_url)
    posts_before = len(testbed.tier1_records("POST"))

    backend = daemon.deploy_backend(testbed.tier1_url, app, discover=False)

    assert backend.tunnel.mode == "userspace"
    assert backend.tunnel.interface is not None
    assert backend.tunnel.interface in testbed.device_links()
    assert backend.deployment.cloudlet == first.cloudlet_id
    assert len(testbed.tier1_records("POST")) == posts_before + 1
    _reaches(testbed, first.backend_url, "cloudlet1")
    # Only the allowed IPs go through the tunnel: the other cloudlet's backend does not.
    _cannot_reach(testbed, testbed.cloudlets[1].backend_url)

    daemon.release_backend(app)

    _cannot_reach(testbed, first.backend_url)
    assert backend.tunnel.interface not in testbed.device_links()
    (release,) = [r for r in testbed.tier1_records("DELETE") if str(app) in r["path"]]
    assert release["path"].startswith(f"/api/v2/deploy/{app}/")
    with pytest.raises(DeploymentNotFoundError):
        daemon.get_backend(app)


def test_probe_picks_the_lower_latency_cloudlet(testbed: DeviceTestbed, daemon: Client) -> None:
    slow, fast = testbed.cloudlets
    first_app, probe_app = uuid.uuid4(), uuid.uuid4()
    with added_latency(testbed, slow.host, 40):
        assert testbed.connect_seconds(slow.host.address, TIER2_PORT) >= 0.04
        assert testbed.connect_seconds(fast.host.address, TIER2_PORT) < 0.02
        by_order = daemon.deploy_backend(
            testbed.tier1_url, first_app, strategy="first", discover=False
        )
        daemon.release_backend(first_app)
        probed = daemon.deploy_backend(
            testbed.tier1_url, probe_app, strategy="probe", discover=False
        )
    try:
        assert by_order.deployment.cloudlet == slow.cloudlet_id
        assert probed.deployment.cloudlet == fast.cloudlet_id
        assert probed.candidates == 2
        _reaches(testbed, fast.backend_url, "cloudlet2")
        # The slow cloudlet's deployment was not chosen, so it is released there.
        wait_for(
            lambda: any(str(probe_app) in r["path"] for r in slow.records("DELETE")),
            what="the unchosen deployment's release",
        )
    finally:
        daemon.release_backend(probe_app)


def test_handoff_tells_the_app_the_new_backend(
    testbed: DeviceTestbed, daemon: Client, daemon_socket: Path
) -> None:
    old, new = testbed.cloudlets
    app = uuid.uuid4()
    first = daemon.deploy_backend(testbed.tier1_url, app, discover=False)
    assert first.deployment.cloudlet == old.cloudlet_id
    _reaches(testbed, old.backend_url, "cloudlet1")
    told: list[Backend] = []
    with Client(uds=daemon_socket) as watcher:  # the app's own connection, waiting
        waiter = threading.Thread(
            target=lambda: told.append(watcher.wait_for_backend(app, after=1, wait_timeout=30))
        )
        waiter.start()
        try:
            # The device "moved": the old cloudlet is now far away.
            with added_latency(testbed, old.host, 40):
                moved = daemon.deploy_backend(
                    testbed.tier1_url, app, strategy="probe", discover=False
                )
        finally:
            waiter.join(timeout=40)
    try:
        assert moved.generation == 2
        assert moved.deployment.cloudlet == new.cloudlet_id
        assert [b.generation for b in told] == [2]
        assert told[0].deployment.services[0].host == new.backend_address
        _reaches(testbed, new.backend_url, "cloudlet2")
        assert first.tunnel.interface is not None
        assert moved.tunnel.interface is not None
        links = testbed.device_links()
        assert first.tunnel.interface not in links
        assert moved.tunnel.interface in links
        wait_for(
            lambda: any(str(app) in r["path"] for r in old.records("DELETE")),
            what="the old deployment's release",
        )
    finally:
        daemon.release_backend(app)


def _announce(testbed: DeviceTestbed, index: int, name: str, api: str) -> subprocess.Popen[str]:
    host = testbed.cloudlets[index].host
    registrar = popen_python(
        testbed.hosts,
        host,
        agent_argv(
            "register",
            "--address", host.address,
            "--name", name,
            "--port", str(TIER2_PORT),
            f"--txt=uuid={testbed.cloudlets[index].cloudlet_id}",
            f"--txt=api={api}",
            "--txt=version=1",
            "--max-runtime", "120",
        ),
    )  # fmt: skip
    assert read_json_line(registrar, timeout=15)["event"] == "registered"
    return registrar


@pytest.mark.zeroconf
def test_jit_cloudlet_is_first_and_static_scoping_skips_tier1(
    testbed: DeviceTestbed, daemon: Client
) -> None:
    jit = testbed.cloudlets[1]
    registrar = _announce(testbed, 1, "jit-cloudlet2", jit.api_url)
    scoped, shared = uuid.uuid4(), uuid.uuid4()
    try:
        wait_for(
            lambda: [c.name for c in daemon.list_cloudlets()] == ["jit-cloudlet2"],
            what="the daemon to see the announcement",
        )
        posts_before = len(testbed.tier1_records("POST"))

        backend = daemon.deploy_backend(testbed.tier1_url, scoped, static_scoping=True)

        assert backend.source == "jit"
        assert backend.deployment.cloudlet == jit.cloudlet_id
        assert backend.candidates == 1
        assert len(testbed.tier1_records("POST")) == posts_before  # ST-1 was never asked
        jit_posts = [r for r in jit.records("POST") if r["body"]["app"] == str(scoped)]
        assert jit_posts[0]["path"] == "/api/v2/deployments"
        assert "recipe" not in jit_posts[0]["body"] or jit_posts[0]["body"]["recipe"] is None
        _reaches(testbed, jit.backend_url, "cloudlet2")
        daemon.release_backend(scoped)
        assert any(str(scoped) in r["path"] for r in jit.records("DELETE"))

        # Without static scoping ST-1 is asked too, and the JIT cloudlet still comes first.
        backend = daemon.deploy_backend(testbed.tier1_url, shared)
        assert backend.source == "jit"
        assert backend.deployment.cloudlet == jit.cloudlet_id
        assert backend.candidates == 2
        assert len(testbed.tier1_records("POST")) == posts_before + 1
        daemon.release_backend(shared)
    finally:
        stop_popen(registrar, "mdns registrar")
    wait_for(lambda: daemon.list_cloudlets() == [], what="the goodbye to drop the cloudlet")


@pytest.mark.zeroconf
def test_stale_announcement_is_dropped_after_a_failed_call(
    testbed: DeviceTestbed, daemon: Client
) -> None:
    ghost_api = f"http://{testbed.cloudlets[0].host.address}:9"  # nothing listens there
    registrar = _announce(testbed, 0, "ghost", ghost_api)
    app = uuid.uuid4()
    try:
        wait_for(
            lambda: [c.name for c in daemon.list_cloudlets()] == ["ghost"],
            what="the daemon to see the ghost",
        )
        backend = daemon.deploy_backend(testbed.tier1_url, app)
        assert backend.source == "tier1"
        assert [c.name for c in daemon.list_cloudlets()] == []
        daemon.release_backend(app)
    finally:
        stop_popen(registrar, "mdns registrar")


def _cli(
    testbed: DeviceTestbed, tmp_path: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return testbed.hosts.run(
        testbed.device,
        [sys.executable, "-m", "tier3.cli", "deploy", *args],
        timeout=timeout,
        cwd=REPO_ROOT,
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )


APP_SNIPPET = """
import os, socket, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
backend = os.environ["SINFONIA_BACKEND"]
for attempt in range(10):
    try:
        print(opener.open(f"http://{backend}/", timeout=1.5).read().decode())
        break
    except OSError:
        pass
try:
    socket.create_connection((sys.argv[1], 7002), timeout=1).close()
    print("not isolated")
except OSError:
    print("isolated")
sys.exit(int(sys.argv[2]))
"""


def test_cli_runs_the_app_through_the_tunnel_and_releases_on_exit(
    testbed: DeviceTestbed, tmp_path: Path
) -> None:
    app = str(uuid.uuid4())
    first = testbed.cloudlets[0]
    result = _cli(
        testbed,
        tmp_path,
        testbed.tier1_url,
        app,
        "--",
        "python3",
        "-c",
        APP_SNIPPET,
        first.host.address,
        "7",
    )
    assert result.returncode == 7, result.stdout + result.stderr
    assert result.stdout.split() == ["cloudlet1", "isolated"]
    assert "backend cloudlet1-" in result.stderr
    assert "Traceback" not in result.stderr
    releases = [r for r in testbed.tier1_records("DELETE") if app in r["path"]]
    assert len(releases) == 1
    assert "sft" not in testbed.device_links()
    leftovers = [p.name for p in Path("/etc/netns").glob("sft-app-*")]
    assert leftovers == []
    _cannot_reach(testbed, first.backend_url)


@pytest.mark.zeroconf
def test_cli_browses_for_a_jit_cloudlet_and_skips_tier1(
    testbed: DeviceTestbed, tmp_path: Path
) -> None:
    jit = testbed.cloudlets[1]
    registrar = _announce(testbed, 1, "jit-cli", jit.api_url)
    app = str(uuid.uuid4())
    try:
        posts_before = len(testbed.tier1_records("POST"))
        result = _cli(
            testbed,
            tmp_path,
            testbed.tier1_url,
            app,
            "--static-scoping",
            "--browse-timeout", "3",
            *[arg for a in testbed.device.addresses for arg in ("-z", a)],
            "--",
            "python3", "-c", APP_SNIPPET, jit.host.address, "0",
        )  # fmt: skip
    finally:
        stop_popen(registrar, "mdns registrar")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["cloudlet2", "isolated"]
    assert "(jit)" in result.stderr
    assert len(testbed.tier1_records("POST")) == posts_before
    assert any(app in r["path"] for r in jit.records("DELETE"))


def test_cli_passes_sigterm_to_the_app_and_still_releases(
    testbed: DeviceTestbed, tmp_path: Path
) -> None:
    app = str(uuid.uuid4())
    started = tmp_path / "started"
    cli = testbed.hosts.popen(
        testbed.device,
        [
            sys.executable, "-m", "tier3.cli", "deploy", testbed.tier1_url, app, "--",
            "sh", "-c", f"touch {started}; exec sleep 60",
        ],
        cwd=REPO_ROOT,
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    try:
        wait_for(started.exists, timeout=30, what="the app to start")
        cli.send_signal(signal.SIGTERM)
        _, stderr = cli.communicate(timeout=30)
    finally:
        stop_popen(cli, "tier3 cli")
    assert cli.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert [r for r in testbed.tier1_records("DELETE") if app in r["path"]]
    assert "sft" not in testbed.device_links()
