"""The deploy operations both APIs share: who may, which recipe, which key (native and v1)."""

from __future__ import annotations

import uuid

from common.device import DeviceContext
from common.errors import InvalidRequestError, UnavailableError
from common.keys import parse_wireguard_key
from common.recipe import Recipe
from common.types import AppId
from tier2.api.auth import Caller, authorize_access, authorize_deploy
from tier2.deployments import DeployOutcome
from tier2.records import DeploymentKey, DeploymentRecord
from tier2.runtime import Runtime


def key_from_path(app: uuid.UUID, key_text: str) -> DeploymentKey:
    """A deployment key from path parts; the key may be in any base64 form, padded or not."""
    try:
        client_key = parse_wireguard_key(key_text)
    except ValueError as exc:
        raise InvalidRequestError(f"malformed WireGuard key in the path: {exc}") from exc
    return DeploymentKey(app=AppId(app), client_key=client_key)


def _require_started(runtime: Runtime) -> None:
    """Until the deployments were read back from the cluster, nothing is known for sure."""
    if not runtime.started:
        raise UnavailableError("ST-2 is still reading its deployments from the cluster")


async def deploy(
    runtime: Runtime,
    caller: Caller,
    key: DeploymentKey,
    *,
    recipe: Recipe | None,
    device: DeviceContext,
) -> DeployOutcome:
    authorize_deploy(caller, key, brings_recipe=recipe is not None)
    _require_started(runtime)
    if recipe is None:
        recipe = runtime.recipes.get(key.app)
    elif recipe.uuid != key.app:
        raise InvalidRequestError(f"the recipe is for app {recipe.uuid}, not {key.app}")
    return await runtime.manager.deploy(key, recipe, device)


def lookup(runtime: Runtime, caller: Caller, key: DeploymentKey) -> DeploymentRecord:
    authorize_access(caller, key)
    _require_started(runtime)
    return runtime.manager.get(key)


async def release(runtime: Runtime, caller: Caller, key: DeploymentKey) -> None:
    authorize_access(caller, key)
    _require_started(runtime)
    await runtime.manager.release(key)
