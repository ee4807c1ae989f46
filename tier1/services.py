"""The objects one ST-1 process runs on, built in the lifespan and handed to the API."""

from __future__ import annotations

from dataclasses import dataclass

from tier1.clientinfo import Geolocator
from tier1.deployer import Deployer
from tier1.metrics import Tier1Metrics
from tier1.recipes import RecipeStore
from tier1.registrar import Registrar
from tier1.settings import Tier1Settings
from tier1.table.interface import CloudletTable


@dataclass(frozen=True)
class Services:
    settings: Tier1Settings
    table: CloudletTable
    registrar: Registrar
    deployer: Deployer
    recipes: RecipeStore
    metrics: Tier1Metrics
    geolocator: Geolocator | None
