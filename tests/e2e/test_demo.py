"""`make demo` keeps working: the script behind it, in its namespaces, on loopback, and failing.

Each run starts the three tiers as processes and removes everything again;
the tests check what a newcomer reads and that nothing is left behind.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import netns
from tests.harness.requirements import require

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "demo.py"
#: The demo's own budget is 3 minutes; a busy CI machine gets some slack on top.
TIMEOUT = 240.0


def _namespaces() -> set[str]:
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=False
    )
    return {line.split()[0] for line in listing.stdout.splitlines() if line.startswith("sfdemo")}


def _run_demo(*args: str) -> tuple[int, str]:
    """Run the demo; on timeout interrupt it (it cleans up on Ctrl-C) before failing."""
    process = subprocess.Popen(
        [sys.executable, str(DEMO), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        pytest.fail(f"the demo took longer than {TIMEOUT:.0f}s:\n{output}")
    return process.returncode, output


def test_the_demo_reaches_the_backend_through_a_real_tunnel() -> None:
    require(netns.check_prerequisites)
    before = _namespaces()
    code, output = _run_demo()
    assert code == 0, output
    assert "four hosts, each a network namespace" in output
    assert "just-in-time: it announced itself" in output
    assert "ranked #" in output
    assert "proximity" in output
    assert "least-loaded" in output
    assert "-> 200 'Hello from Sinfonia! This is backend local-helloworld-" in output
    assert "That went through the real WireGuard tunnel" in output
    assert "all cleanly" in output
    assert "Everything was stopped and removed." in output
    assert "Traceback" not in output
    assert _namespaces() == before


def test_the_demo_falls_back_to_loopback_and_says_so() -> None:
    code, output = _run_demo("--loopback")
    assert code == 0, output
    assert "Network: this machine's loopback (asked for --loopback)" in output
    assert "Fell back to config-only (asked for --loopback)" in output
    assert "-> 200 'Hello from Sinfonia!" in output
    assert "all cleanly" in output


def test_a_failing_step_exits_non_zero_with_the_reason_last() -> None:
    before = _namespaces()
    code, output = _run_demo("--app", "0000dead-0000-4000-8000-000000000000")
    assert code == 1, output
    lines = output.strip().splitlines()
    assert lines[-2] == (
        "FAILED: deploy_backend failed: no recipe for application "
        "0000dead-0000-4000-8000-000000000000"
    )
    kept = lines[-1].removeprefix("The services' logs are kept in ")
    assert kept != lines[-1]
    assert (Path(kept) / "ST-1.log").is_file()
    shutil.rmtree(Path(kept).parent)  # the demo's work directory, kept for the reader
    assert "--- last lines of ST-1's log ---" in output
    assert _namespaces() == before
