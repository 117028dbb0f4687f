"""CPU limit, worker count and autoscaling target agree: the HPA aims at a share of the workers' cores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

Manifests = list[dict[str, Any]]


def cpu_target(manifests: Manifests, only: Any) -> dict[str, Any]:
    metrics = only(manifests, "HorizontalPodAutoscaler")["spec"]["metrics"]
    [cpu] = [metric for metric in metrics if metric["resource"]["name"] == "cpu"]
    target: dict[str, Any] = cpu["resource"]["target"]
    return target


@pytest.mark.parametrize(
    ("limit", "target"),
    [("1", "700m"), (2, "1400m"), ("1500m", "1050m"), (0.5, "350m")],
    ids=["one-cpu", "two-cpus", "millicores", "half-cpu"],
)
def test_autoscaling_aims_at_a_share_of_the_cpu_limit(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any, limit: Any, target: str
) -> None:
    # The limit sets WORKERS (one per CPU); a share of the request (100m by default) would add
    # pods while the workers are nearly idle.
    manifests = render_with(
        {
            "autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": 70},
            "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": limit}},
        }
    )
    assert cpu_target(manifests, only) == {"type": "AverageValue", "averageValue": target}


def test_autoscaling_without_a_cpu_limit_aims_at_a_share_of_the_request(
    render_with: Callable[[dict[str, Any]], Manifests], only: Any
) -> None:
    manifests = render_with(
        {
            "autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": 60},
            "resources": {"requests": {"cpu": "500m"}, "limits": None},
        }
    )
    assert cpu_target(manifests, only) == {"type": "Utilization", "averageUtilization": 60}
