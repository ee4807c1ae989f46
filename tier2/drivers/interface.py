"""The seam every cluster driver implements, so the lifecycle does not care where backends run."""

from __future__ import annotations

from typing import Protocol

from common.cloudlet import Hardware
from common.recipe import Recipe
from tier2.records import CreateRequest, DeploymentRecord


class ClusterDriver(Protocol):
    """Creates, persists and removes deployments on one cluster.

    Drivers raise `common.errors` classes: 4xx for a recipe this cluster cannot
    run, `UnavailableError` when the cluster cannot be reached, and
    `UpstreamTimeoutError` when a backend is not ready in time. `create` leaves
    nothing behind when it fails.
    """

    name: str

    async def check_ready(self) -> None:
        """Return when a deploy can succeed (API reachable, a node Ready); raise otherwise."""

    async def fetch_hardware(self) -> Hardware:
        """What the cluster has in total, across its nodes."""

    def new_name(self, recipe: Recipe) -> str:
        """A fresh, unused deployment name (a DNS label) for `recipe`."""

    async def rediscover(self) -> list[DeploymentRecord]:
        """Every deployment this cloudlet owns, from the cluster's own records."""

    async def sweep(self) -> None:
        """Remove what failed or interrupted creations left behind, now that the cluster answers."""

    async def create(self, request: CreateRequest) -> DeploymentRecord:
        """Create a deployment and return once its backend is ready."""

    async def update(self, record: DeploymentRecord) -> None:
        """Persist a changed lease or status."""

    async def delete(self, name: str) -> None:
        """Remove a deployment and everything it holds; deleting a missing one is no error."""

    async def aclose(self) -> None:
        """Release clients and stop what the driver itself runs."""
