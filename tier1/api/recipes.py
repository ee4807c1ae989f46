"""Recipe lookup: the v1 route (which honours `restricted`) and its native twin."""

from __future__ import annotations

from fastapi import APIRouter

from common.errors import ForbiddenError
from common.recipe import Recipe
from tier1.api.deps import AppIdPath, ServicesDep

native = APIRouter(prefix="/api/v2/recipes", tags=["recipes"])
v1 = APIRouter(prefix="/api/v1/recipe", tags=["v1"])


async def _public_recipe(app: AppIdPath, services: ServicesDep) -> Recipe:
    recipe = await services.recipes.get(app)
    if recipe.restricted:
        raise ForbiddenError(f"the recipe of application {app} is restricted")
    return recipe


@native.get("/{app}", summary="An application's recipe, unless restricted")
async def get_recipe(app: AppIdPath, services: ServicesDep) -> Recipe:
    return await _public_recipe(app, services)


@v1.get("/{app}/", summary="v1: an application's recipe, unless restricted")
async def get_recipe_v1(app: AppIdPath, services: ServicesDep) -> Recipe:
    return await _public_recipe(app, services)
