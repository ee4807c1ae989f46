"""The cloudlet's own recipes (for JIT and v1 deploys), loaded once from a directory at start.

One YAML or JSON file per app. An unknown key is a typo and stops the start,
as does a UUID that two files claim.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from common.errors import RecipeNotFoundError
from common.recipe import Recipe, unknown_fields
from common.types import AppId

logger = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json")


class RecipeBook:
    """Recipes by app UUID."""

    def __init__(self, recipes: Mapping[AppId, Recipe] | None = None) -> None:
        self._recipes = dict(recipes or {})

    def __len__(self) -> int:
        return len(self._recipes)

    def get(self, app: AppId) -> Recipe:
        recipe = self._recipes.get(app)
        if recipe is None:
            raise RecipeNotFoundError(f"this cloudlet has no recipe for app {app}")
        return recipe


def load_recipes(directory: Path) -> RecipeBook:
    """Read every recipe file in `directory`; raises ValueError naming the file at fault."""
    recipes: dict[AppId, Recipe] = {}
    origin: dict[AppId, Path] = {}
    for path in sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file()):
        text = path.read_text(encoding="utf-8")
        try:
            document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            recipe = Recipe.model_validate(document)
        except (ValueError, yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"recipe file {path}: {exc}") from exc
        typos = unknown_fields(recipe)
        if typos:
            raise ValueError(f"recipe file {path}: unknown key(s) {', '.join(typos)}")
        if recipe.uuid in recipes:
            raise ValueError(
                f"recipe file {path}: app {recipe.uuid} is also in {origin[recipe.uuid]}"
            )
        recipes[recipe.uuid] = recipe
        origin[recipe.uuid] = path
    logger.info("loaded %d recipe(s) from %s", len(recipes), directory)
    return RecipeBook(recipes)
