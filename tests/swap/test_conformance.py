"""schemathesis, with every check and every phase, finds nothing wrong with the projects' services.

The service publishes an OpenAPI schema made from the model's signature (row length, column
names and types, 1 to ``MAX_ROWS`` rows, the served model's name). schemathesis generates
requests from it, valid and invalid, and checks every answer: no 5xx, no schema-valid request
refused, no schema-violating one accepted, every status and body as documented. It runs
against the default project and the swapped pandas table (string, integer and number columns
as one tensor each; nulls allowed in the two columns that had holes in training), as a user's CI
would run it, through its CLI.

The run is bounded (``--max-examples``) and seeded: the seed is in the test id and in the
failure message; set ``DSDEPLOY_SCHEMATHESIS_SEED`` to replay or vary it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("schemathesis", reason="schemathesis is a test dependency")

SEED = int(os.environ.get("DSDEPLOY_SCHEMATHESIS_SEED", "20261201"))
MAX_EXAMPLES = 20  # per operation and phase: ~11,000 requests in all (the coverage phase is most)
PHASES = "examples,coverage,fuzzing,stateful"


def _schemathesis(url: str, model_name: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The model name is a path parameter the schema pins to one value; schemathesis reads
    # fixed parameters from its config file.
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.model_name" = "{model_name}"\n', encoding="utf-8")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-color",
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def default_service(default_project, local_service):
    return local_service(default_project)


@pytest.fixture(scope="module")
def table_service(swapped, local_service):
    return local_service(swapped("lightgbm-mixed-table"))


@pytest.mark.parametrize(
    "service_name", ["default_service", "table_service"], ids=["default", "pandas-table"]
)
@pytest.mark.parametrize("seed", [SEED], ids=[f"seed-{SEED}"])
def test_schemathesis_finds_no_failure(request, service_name, seed, tmp_path):
    service = request.getfixturevalue(service_name)
    result = _schemathesis(service.url, service.model_name, tmp_path)
    tail = "\n".join(result.stdout.splitlines()[-80:])
    assert result.returncode == 0, (
        f"schemathesis (seed {seed}) found failures:\n{tail}\n{result.stderr[-2000:]}"
    )
    # Every operation was reached (the model name given), and every phase ran.
    assert "Tested: 8" in result.stdout, tail
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in result.stdout, tail
