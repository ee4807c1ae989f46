"""The default selection pipelines, one per QoE class, in KubeSchedulerConfiguration style."""

from __future__ import annotations

from common.recipe import PluginSetting, QoEClass, Recipe

# Filters every pipeline starts with; their weights do not matter.
_FILTERS = ("client-networks", "fresh", "recipe-requirements", "capacity")

# Score weights by QoE class: interactive apps live on latency, streaming on
# bandwidth, batch jobs on spare compute.
_WEIGHTS: dict[QoEClass, dict[str, int]] = {
    QoEClass.INTERACTIVE: {
        "proximity": 6,
        "least-loaded": 2,
        "bandwidth-headroom": 1,
        "operator-preference": 1,
    },
    QoEClass.STREAMING: {
        "proximity": 3,
        "bandwidth-headroom": 4,
        "least-loaded": 1,
        "operator-preference": 1,
    },
    QoEClass.BATCH: {
        "least-loaded": 5,
        "proximity": 1,
        "bandwidth-headroom": 1,
        "operator-preference": 1,
    },
}


def default_pipeline(qoe_class: QoEClass) -> list[PluginSetting]:
    settings = [PluginSetting(name=name, weight=0) for name in _FILTERS]
    settings += [
        PluginSetting(name=name, weight=weight) for name, weight in _WEIGHTS[qoe_class].items()
    ]
    return settings


def pipeline_for(recipe: Recipe, configured: list[PluginSetting] | None) -> list[PluginSetting]:
    """The recipe's own pipeline, else the operator's, else the default for its QoE class."""
    if recipe.selection.pipeline is not None:
        return recipe.selection.pipeline
    if configured is not None:
        return configured
    return default_pipeline(recipe.selection.qoe_class)
