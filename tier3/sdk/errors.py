"""The exceptions an app gets from the SDK, each one something the app developer can act on."""

from common.errors import (
    DeploymentNotFoundError,
    NoEligibleCloudletError,
    RecipeNotFoundError,
    RequestValidationFailedError,
    SinfoniaError,
    UpstreamError,
    UpstreamRejectedError,
    UpstreamTimeoutError,
)
from tier3.errors import (
    DaemonUnavailableError,
    PeerUnreachableError,
    Tier1UnreachableError,
    TunnelError,
)

__all__ = [
    "DaemonUnavailableError",
    "DeploymentNotFoundError",
    "NoEligibleCloudletError",
    "PeerUnreachableError",
    "RecipeNotFoundError",
    "RequestValidationFailedError",
    "SinfoniaError",
    "Tier1UnreachableError",
    "TunnelError",
    "UpstreamError",
    "UpstreamRejectedError",
    "UpstreamTimeoutError",
]
