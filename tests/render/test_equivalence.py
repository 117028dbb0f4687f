"""Render by dependency equals copier's own render, byte for byte.

For a pairwise cover of the matrix plus a random sample drawn each run (the seed is in pytest's
header: ``DSDEPLOY_EQUIVALENCE_SEED``; ``DSDEPLOY_EQUIVALENCE_SAMPLE`` sets the sample's size),
the project the render tier checks (``matrix_projects``, assembled from shared pieces) has the
same relative paths, folders, contents, file modes and answers file as ``copier copy``.
"""

from __future__ import annotations

import os
import random

import pytest

from generator.project.render import render_project
from generator.project.render_by_dependency import DependencyRenderer
from generator.project.tree import read_tree, tree_to_disk_tree
from generator.project.variants import variants

SEED = int(os.environ["DSDEPLOY_EQUIVALENCE_SEED"])
SAMPLE_SIZE = int(os.environ.get("DSDEPLOY_EQUIVALENCE_SAMPLE", "8"))

PAIRWISE = variants("pairwise")
_REST = [v for v in variants("full") if v not in PAIRWISE]
SAMPLE = random.Random(SEED).sample(_REST, min(SAMPLE_SIZE, len(_REST)))
CASES = [pytest.param(v, id=f"pairwise-{v.id}") for v in PAIRWISE] + [
    pytest.param(v, id=f"sample-{v.id}") for v in SAMPLE
]


@pytest.mark.parametrize("case", CASES)
def test_assembled_tree_equals_copier_render(case, matrix_projects, template_snapshot, tmp_path):
    copier_tree = read_tree(render_project(tmp_path / "copier", case.as_dict(), template=template_snapshot))
    assembled = read_tree(matrix_projects[case.id])
    assert copier_tree.files, "copier rendered nothing"
    assert ".copier-answers.yml" in assembled.files
    assert assembled.differences(copier_tree) == [], f"seed {SEED}"


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(
            {"project_name": "Churn Model", "registry": "gitlab", "with_dask": True}, id="churn-gitlab"
        ),
        pytest.param(
            {
                "project_name": "Fraud",
                "package_name": "fraud_score",
                "registry": "ecr",
                "aws_region": "cn-north-1",
            },
            id="fraud-ecr-china",
        ),
        pytest.param(
            {"registry": "dockerhub", "registry_namespace": "team", "ci_provider": "gitlab"}, id="hub"
        ),
    ],
)
def test_answers_beyond_the_axes_render_as_copier_does(answers, template_snapshot, tmp_path):
    # Answers that no axis varies (names, namespaces) change derived values such as
    # project_slug and image_repository; the dependency closure must key on them too.
    copier_tree = read_tree(render_project(tmp_path / "copier", answers, template=template_snapshot))
    with DependencyRenderer(template_snapshot) as renderer:
        renderer.render({})  # a first, default variant: its pieces must not leak into the next
        assembled = tree_to_disk_tree(renderer.render(answers), renderer.store)
    assert assembled.differences(copier_tree) == []


def test_a_file_renders_once_per_distinct_answers_it_reads(matrix_render):
    trees = matrix_render.trees
    files = sum(len(tree.files) for tree in trees.values())
    # Every variant renders its answers file; everything else is shared across the matrix.
    assert matrix_render.renders < len(trees) + files / 10
