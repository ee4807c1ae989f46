"""A small run of `python -m benchmarks.load`: the soak's machinery works and loses nothing.

The full run (10^5 cloudlets) is for the report, not for CI; this one takes seconds.
"""

from __future__ import annotations

from benchmarks import load


def test_a_small_soak_has_no_errors_and_loses_no_rows() -> None:
    # A 1 s interval is a 3 s TTL: a row whose keepalives went missing would be gone by the end.
    figures = load.main(
        cloudlets=300, seconds=5.0, interval=1.0, rate=20.0, table="memory://", warmup=0.0
    )
    assert figures["errors"] == 0, figures
    assert figures["rows_before"] == 300, figures
    assert figures["lost_rows"] == 0, figures
    assert figures["deploys"] >= 80, figures
    # 300 rows at one keepalive a second (a loaded CI may lag a little).
    assert figures["keepalives_per_s"] >= 200, figures
