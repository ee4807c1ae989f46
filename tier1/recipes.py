"""Recipes by app UUID, from a directory (loaded and checked at start) or from a URL."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import httpx
import yaml
from pydantic import ValidationError

from common.errors import (
    RecipeNotFoundError,
    UpstreamError,
    UpstreamTimeoutError,
)
from common.recipe import Recipe, unknown_fields
from common.types import AppId

logger = logging.getLogger(__name__)

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
MAX_RECIPE_BYTES = 1024 * 1024


class RecipeError(ValueError):
    """A recipe file is malformed; raised at start so the operator sees it at once."""


class RecipeStore(Protocol):
    async def get(self, app: AppId) -> Recipe:
        """The recipe, or `RecipeNotFoundError`."""


def parse_recipe(data: Any, source: str) -> Recipe:
    """Validate one recipe document; unknown keys anywhere are an error with their path."""
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(f"{source}: {exc}") from exc
    unknown = unknown_fields(recipe)
    if unknown:
        raise RecipeError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    return recipe


class DirectoryRecipes:
    """Every `<app-uuid>.yaml` (or .yml, .json) in one directory, read once at start.

    The lookup key is a parsed UUID and the file name must be that UUID, so a
    request can never name a path outside the directory.
    """

    def __init__(self, recipes: dict[AppId, Recipe]) -> None:
        self._recipes = recipes

    @classmethod
    def load(cls, directory: Path) -> DirectoryRecipes:
        if not directory.is_dir():
            raise RecipeError(f"recipe directory {directory} does not exist")
        recipes: dict[AppId, Recipe] = {}
        for path in sorted(directory.iterdir()):
            if path.suffix not in RECIPE_SUFFIXES or not path.is_file():
                continue
            try:
                app = AppId(UUID(path.stem))
            except ValueError as exc:
                raise RecipeError(f"{path.name}: a recipe file is named <app-uuid>.yaml") from exc
            try:
                document = yaml.safe_load(path.read_text())
            except yaml.YAMLError as exc:
                raise RecipeError(f"{path.name}: not valid YAML: {exc}") from exc
            recipe = parse_recipe(document, path.name)
            if recipe.uuid != app:
                raise RecipeError(f"{path.name}: its uuid is {recipe.uuid}, not its file name")
            if app in recipes:
                raise RecipeError(f"{path.name}: a second recipe for {app}")
            recipes[app] = recipe
        logger.info("loaded %d recipe(s) from %s", len(recipes), directory)
        return cls(recipes)

    async def get(self, app: AppId) -> Recipe:
        recipe = self._recipes.get(app)
        if recipe is None:
            raise RecipeNotFoundError(f"no recipe for application {app}")
        return recipe


class EmptyRecipes:
    """No recipes configured: every app is unknown."""

    async def get(self, app: AppId) -> Recipe:
        raise RecipeNotFoundError(f"no recipe for application {app} (no recipes are configured)")


class UrlRecipes:
    """`<base>/<app-uuid>.yaml` over HTTP, cached for `cache_ttl` seconds (also misses)."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient,
        timeout: float,
        cache_ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client = client
        self._timeout = timeout
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._max_entries = max_entries
        self._cache: dict[AppId, tuple[float, Recipe | None]] = {}

    async def get(self, app: AppId) -> Recipe:
        cached = self._cache.get(app)
        if cached is not None and cached[0] > self._clock():
            recipe = cached[1]
        else:
            recipe = await self._fetch(app)
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[app] = (self._clock() + self._cache_ttl, recipe)
        if recipe is None:
            raise RecipeNotFoundError(f"no recipe for application {app}")
        return recipe

    async def _fetch(self, app: AppId) -> Recipe | None:
        url = f"{self._base}/{app}.yaml"
        try:
            async with asyncio.timeout(self._timeout):  # the whole fetch, not each read
                response = await self._client.get(url, timeout=self._timeout)
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise UpstreamTimeoutError(f"the recipe server did not answer for {app}") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"the recipe server failed: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UpstreamError(f"the recipe server answered {response.status_code} for {app}")
        if len(response.content) > MAX_RECIPE_BYTES:
            raise UpstreamError(f"the recipe for {app} is larger than {MAX_RECIPE_BYTES} bytes")
        try:
            recipe = parse_recipe(yaml.safe_load(response.content), url)
        except (RecipeError, yaml.YAMLError) as exc:
            raise UpstreamError(f"the recipe for {app} is malformed: {exc}") from exc
        if recipe.uuid != app:
            raise UpstreamError(f"the recipe server sent the recipe of {recipe.uuid} for {app}")
        return recipe
