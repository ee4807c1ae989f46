"""Recipes: what a recipe file may say, typos caught with their path, tolerance on the wire."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from common.deployment import CloudletDeployRequest
from common.recipe import QoEClass, Recipe, unknown_fields

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="


def recipe(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": str(uuid.UUID(int=0)),
        "name": "helloworld",
        "local": {"command": ["python3", "-m", "http.server", "${port}"]},
    }
    body.update(overrides)
    return body


def test_minimal_recipe_defaults() -> None:
    parsed = Recipe.model_validate(recipe())
    assert parsed.restricted is False
    assert parsed.requirements.gpu is False
    assert parsed.selection.qoe_class is QoEClass.INTERACTIVE
    assert parsed.selection.pipeline is None
    assert parsed.lease_seconds == 300.0
    assert unknown_fields(parsed) == []


def test_a_recipe_needs_a_way_to_run() -> None:
    with pytest.raises(ValidationError, match="at least one of"):
        Recipe.model_validate(recipe(local=None))


def test_kubernetes_recipe_with_parameters_and_pipeline() -> None:
    parsed = Recipe.model_validate(
        recipe(
            local=None,
            kubernetes={
                "manifests": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}],
                "parameters": {"replicas": 2, "image": "helloworld:1"},
            },
            requirements={"gpu": True, "gpu_models": ["A100"], "min_trust": 50},
            selection={"pipeline": [{"name": "geo-proximity", "weight": 3, "args": {"k": 1}}]},
        )
    )
    assert parsed.kubernetes is not None
    assert parsed.kubernetes.parameters["replicas"] == 2
    assert parsed.selection.pipeline is not None
    assert parsed.selection.pipeline[0].weight == 3


def test_unknown_fields_are_found_at_any_depth_with_their_path() -> None:
    parsed = Recipe.model_validate(
        recipe(
            colour="blue",
            requirements={"gpus": True},
            local={"command": ["x"], "cmd": ["y"]},
        )
    )
    assert sorted(unknown_fields(parsed)) == ["colour", "local.cmd", "requirements.gpus"]


def test_plugin_settings_forbid_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="wieght"):
        Recipe.model_validate(recipe(selection={"pipeline": [{"name": "geo", "wieght": 2}]}))


@pytest.mark.parametrize(
    "override",
    [
        {"uuid": "helloworld"},
        {"name": ""},
        {"requirements": {"min_trust": 101}},
        {"requirements": {"cpu_cores": -1}},
        {"selection": {"qoe_class": "realtime"}},
        {"local": {"command": []}},
        {"local": {"command": ["x"], "ready_path": "health"}},
        {"kubernetes": {"manifests": []}},
        {"lease_seconds": 0},
    ],
)
def test_bad_recipes_are_rejected(override: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Recipe.model_validate(recipe(**override))


def test_deploy_request_to_a_cloudlet_keeps_a_newer_recipes_fields() -> None:
    wire = {
        "app": str(uuid.UUID(int=0)),
        "client_public_key": KEY,
        "recipe": recipe(new_knob=True),
        "also_new": 1,
    }
    request = CloudletDeployRequest.model_validate(wire)
    assert request.recipe is not None
    assert request.recipe.model_extra == {"new_knob": True}
    forwarded = request.model_dump(mode="json")
    assert forwarded["recipe"]["new_knob"] is True
    assert "also_new" not in forwarded
