"""The errors ST-3 adds to Sinfonia's tree, and the mapping from a problem body back to them.

    SinfoniaError (common.errors)
    ├── UpstreamError                       502 upstream
    │   └── PeerUnreachableError            502 peer-unreachable      (retryable)
    │       └── Tier1UnreachableError       502 tier1-unreachable     (retryable)
    ├── UnavailableError                    503 unavailable
    │   └── DaemonUnavailableError          503 daemon-unavailable    (retryable, SDK only)
    └── TunnelError                         500 tunnel-failed

The errors an app developer can act on are: `Tier1UnreachableError` (check the
ST-1 URL and the network), `common.errors.NoEligibleCloudletError` (no cloudlet
can run the backend now; its `reasons` say why), `common.errors.RecipeNotFoundError`
(ST-1 has no recipe for this app UUID), `TunnelError` (the backend exists but
the device could not reach it) and `DaemonUnavailableError` (the SDK could not
reach `sinfonia-tier3 serve`).
"""

from __future__ import annotations

from common.errors import (
    SinfoniaError,
    UnavailableError,
    UpstreamError,
    error_from_problem,
)
from common.problem import Problem


class PeerUnreachableError(UpstreamError):
    """A peer (ST-1 or an ST-2) could not be reached: refused, unresolvable, no route."""

    slug = "peer-unreachable"
    title = "A peer service could not be reached"


class Tier1UnreachableError(PeerUnreachableError):
    """ST-1 could not be reached at all: refused, unresolvable, or no answer to connect."""

    slug = "tier1-unreachable"
    title = "The Tier-1 orchestrator could not be reached"


class DaemonUnavailableError(UnavailableError):
    """The SDK could not reach the local `sinfonia-tier3 serve` daemon."""

    slug = "daemon-unavailable"
    title = "The Tier-3 daemon could not be reached"


class TunnelError(SinfoniaError):
    """The backend was deployed but the WireGuard tunnel to it could not be brought up."""

    status = 500
    slug = "tunnel-failed"
    title = "The tunnel to the backend could not be brought up"


_TIER3_ERRORS: dict[str, type[SinfoniaError]] = {
    cls.problem_type(): cls
    for cls in (PeerUnreachableError, Tier1UnreachableError, DaemonUnavailableError, TunnelError)
}


def tier3_error_from_problem(problem: Problem) -> SinfoniaError:
    """Like `common.errors.error_from_problem`, knowing ST-3's own problem types too."""
    cls = _TIER3_ERRORS.get(problem.type)
    if cls is None:
        return error_from_problem(problem)
    return cls(problem.detail)
