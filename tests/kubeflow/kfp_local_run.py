"""Run a generated project's Kubeflow pipeline with kfp.local's Docker runner (a test driver).

Started as a subprocess by tests/kubeflow (never imported): it imports the generated package from
``--src``, and one process per run keeps two projects' packages (same name) apart.

    python kfp_local_run.py --src SRC --config CONFIG --image IMAGE --pipeline-root DIR
        --store DIR [--param NAME=VALUE ...]

Exit code 0 when the pipeline succeeded, 1 when a task failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import docker.types
from kfp import local
from kfp.local import executor_output_utils


def _declare_container_outputs() -> None:
    # HACK: kfp.local (2.17) registers a task's output artifacts only from the executor-output
    # file, which container components never write, so a downstream step cannot find them.
    # The cluster launcher registers every declared output path; do the same here.
    original = executor_output_utils.get_outputs_for_task

    def with_declared(executor_input: Any, component_spec: Any) -> dict[str, Any]:
        outputs = original(executor_input=executor_input, component_spec=component_spec)
        for name, artifacts in executor_input.outputs.artifacts.items():
            if name not in outputs:
                outputs[name] = executor_output_utils.artifact_list_to_dsl_artifact(
                    artifacts, is_artifact_list=False
                )
        return outputs

    executor_output_utils.get_outputs_for_task = with_declared


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--package", required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--pipeline-root", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--param", action="append", default=[])
    args = parser.parse_args()

    sys.path.insert(0, str(args.src))
    pipeline_module = importlib.import_module(f"{args.package}.pipeline")
    config = dataclasses.replace(pipeline_module.PipelineConfig.load(args.config), image=args.image)
    _declare_container_outputs()
    # The model store is a bind mount at the path the pipeline's PVC mount would use in a cluster.
    store = docker.types.Mount(target=config.model_store_mount, source=str(args.store), type="bind")
    local.init(runner=local.DockerRunner(mounts=[store]), pipeline_root=str(args.pipeline_root))
    params = dict(item.split("=", 1) for item in args.param)
    try:
        pipeline_module.build_pipeline(config)(**{key: _value(value) for key, value in params.items()})
    except RuntimeError as exc:  # kfp.local raises this when a task fails
        print(f"PIPELINE FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
