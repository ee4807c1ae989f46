"""The Sinfonia device SDK: `deploy_backend` through the local daemon, or in the app's own process.

from tier3.sdk import Client

with Client() as client:
    backend = client.deploy_backend("https://tier1.example.org", "helloworld")
    service = backend.services[0]   # reachable through the tunnel now
"""

from tier3.context import FileLocation, FixedLocation, LocationProvider
from tier3.schema import (
    Backend,
    BackendSource,
    DeployBackendRequest,
    JitCloudlet,
    Strategy,
    Tier1Api,
    TunnelMode,
    TunnelState,
)
from tier3.sdk._async import AsyncClient, AsyncInProcessClient
from tier3.sdk._base import ALIASES, DEFAULT_DAEMON_URL, parse_app
from tier3.sdk._sync import Client, InProcessClient
from tier3.sdk.errors import (
    DaemonUnavailableError,
    DeploymentNotFoundError,
    NoEligibleCloudletError,
    PeerUnreachableError,
    RecipeNotFoundError,
    RequestValidationFailedError,
    SinfoniaError,
    Tier1UnreachableError,
    TunnelError,
    UpstreamError,
    UpstreamRejectedError,
    UpstreamTimeoutError,
)
from tier3.settings import Tier3Settings

__all__ = [
    "ALIASES",
    "DEFAULT_DAEMON_URL",
    "AsyncClient",
    "AsyncInProcessClient",
    "Backend",
    "BackendSource",
    "Client",
    "DaemonUnavailableError",
    "DeployBackendRequest",
    "DeploymentNotFoundError",
    "FileLocation",
    "FixedLocation",
    "InProcessClient",
    "JitCloudlet",
    "LocationProvider",
    "NoEligibleCloudletError",
    "PeerUnreachableError",
    "RecipeNotFoundError",
    "RequestValidationFailedError",
    "SinfoniaError",
    "Strategy",
    "Tier1Api",
    "Tier1UnreachableError",
    "Tier3Settings",
    "TunnelError",
    "TunnelMode",
    "TunnelState",
    "UpstreamError",
    "UpstreamRejectedError",
    "UpstreamTimeoutError",
    "parse_app",
]
