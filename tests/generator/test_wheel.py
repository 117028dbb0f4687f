"""The built wheel carries the template: installed outside any checkout, `dsdeploy new` renders."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from generator.project.source import template_root
from generator.tools import find_python, which


def _run(command, cwd, env):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (
        f"{' '.join(map(str, command))}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return done


def test_installed_wheel_renders_a_project_from_any_folder(tmp_path):
    uv = which("uv")
    assert uv is not None, "uv is a dependency of dsdeploy"
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "DSDEPLOY_TEMPLATE_URL"}}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    _run([uv, "build", "--wheel", "--quiet", "--out-dir", tmp_path / "dist", template_root()], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("dsdeploy-*.whl")
    python = find_python("3.12") or sys.executable
    venv = tmp_path / "venv"
    _run([uv, "venv", "--quiet", "--python", python, venv], tmp_path, env)
    _run([uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", wheel], tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    dsdeploy = venv / "bin" / "dsdeploy"

    done = _run([dsdeploy, "new", "my-model", "--defaults", "--no-lock"], elsewhere, env)

    project = elsewhere / "my-model"
    assert (project / "src" / "my_model" / "serving" / "service.py").is_file()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert "site-packages" in answers["_src_path"]
    assert str(template_root()) not in answers["_src_path"]
    assert "--template GIT-URL" in done.stderr  # says how to become updatable
    listed = json.loads(_run([dsdeploy, "variants", "--format", "json"], elsewhere, env).stdout)
    assert len(listed) > 1
    # `dsdeploy check` validates an InferenceService, an HTTPRoute and a PrometheusRule against the
    # CRDs the wheel carries.
    show = (
        "from generator.chart.crds import gateway_schemas, kserve_schemas, prometheus_rule_schemas;"
        " print(*kserve_schemas(), *gateway_schemas(), *prometheus_rule_schemas())"
    )
    kinds = _run([venv / "bin" / "python", "-c", show], elsewhere, env).stdout
    assert "InferenceService" in kinds
    assert "ServingRuntime" in kinds
    assert "ClusterServingRuntime" in kinds
    assert "HTTPRoute" in kinds
    assert "PrometheusRule" in kinds
