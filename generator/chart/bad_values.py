"""Values a chart's ``values.schema.json`` must refuse, and how to read helm's refusal.

Each case breaks exactly one rule, so a refusal proves that rule is enforced; Helm 3 and 4 word
their errors differently, but both name the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BadValues:
    """Values that ``values.schema.json`` must refuse.

    Attributes:
        id: Short readable id (test ids, table rows).
        values: The values, merged over the chart's defaults by helm (``None`` deletes a key).
        key: The key helm's error must name (Helm 3 and 4 word errors differently; both name it).
    """

    id: str
    values: Mapping[str, Any]
    key: str


# Wrong types, unknown keys (typos), bad enums, out-of-range numbers, bad patterns, a required
# key removed. Each entry breaks exactly one rule, so a refusal proves that rule is enforced.
BAD_VALUES: tuple[BadValues, ...] = (
    BadValues("unknown-top-level-key", {"replicas": 2}, "replicas"),
    BadValues("unknown-nested-key", {"image": {"tags": "1.0"}}, "tags"),
    BadValues("pull-policy-enum", {"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    BadValues("replica-count-type", {"replicaCount": "two"}, "replicaCount"),
    BadValues("service-port-range", {"service": {"port": 70000}}, "port"),
    BadValues("service-type-enum", {"service": {"type": "Internal"}}, "type"),
    BadValues("gpu-count-negative", {"gpu": {"count": -1}}, "count"),
    BadValues("memory-quantity", {"resources": {"limits": {"memory": "lots"}}}, "memory"),
    BadValues("digest-pattern", {"image": {"digest": "latest"}}, "digest"),
    BadValues("autoscaling-enabled-type", {"autoscaling": {"enabled": "yes"}}, "enabled"),
    BadValues("probe-period-minimum", {"probes": {"liveness": {"periodSeconds": 0}}}, "periodSeconds"),
    BadValues("tmp-medium-enum", {"tmp": {"medium": "Disk"}}, "medium"),
    BadValues(
        "path-type-enum",
        {"ingress": {"hosts": [{"host": "a.example", "paths": [{"path": "/", "pathType": "Any"}]}]}},
        "pathType",
    ),
    BadValues("required-key-removed", {"networkPolicy": {"allowExternal": None}}, "allowExternal"),
    BadValues("env-without-name", {"env": [{"value": "x"}]}, "name"),
    BadValues("name-override-not-dns", {"nameOverride": "Bad_Name"}, "nameOverride"),
)


def schema_error_lines(stderr: str) -> list[str]:
    """The violations in helm's schema error: Helm 3 and 4 both list one per ``- `` line."""
    return [line[2:] for line in stderr.splitlines() if line.startswith("- ")]
