"""The dependency analysis finds what each template file reads, derived questions included."""

from __future__ import annotations

import pytest

from generator.project.render_by_dependency import DependencyRenderer
from generator.project.template_deps import READS_EVERYTHING


@pytest.fixture(scope="module")
def entries(template_snapshot):
    with DependencyRenderer(template_snapshot) as renderer:
        yield {entry.relpath.as_posix(): entry for entry in renderer.entries}, renderer.context_names


def test_a_derived_answer_closes_over_what_its_default_reads(entries):
    by_path, _ = entries
    # values.yaml names image_repository, derived from the registry answers and the slug.
    reads = by_path["charts/{{project_slug}}/values.yaml.jinja"].content_reads
    assert {"image_repository", "registry", "registry_namespace", "project_slug", "project_name"} <= reads


def test_a_file_reads_only_what_its_jinja_names(entries):
    by_path, _ = entries
    assert by_path["LICENSE.jinja"].content_reads == {"license", "author_name"}
    assert by_path["src/{{package_name}}/serve.py"].content_reads == frozenset()


def test_conditional_names_read_their_condition(entries):
    by_path, _ = entries
    assert "with_dask" in by_path["src/{{package_name}}/{% if with_dask %}batch.py{% endif %}"].path_reads


def test_the_answers_file_reads_everything(entries):
    by_path, _ = entries
    answers_file = by_path["{{_copier_conf.answers_file}}.jinja"]
    assert answers_file.reads_everything
    assert answers_file.path_reads & READS_EVERYTHING


def test_questions_copier_derives_are_asked_per_group_the_rest_overlaid(entries):
    _, context_names = entries
    assert {"registry", "project_name", "project_slug", "image_repository"} <= context_names
    # Axes no question reads vary the context only in their own value.
    assert not {"license", "python_version", "ci_provider", "with_dask", "with_kubeflow"} & context_names
