"""The representatives cover every variant's CI files, and each provider renders only its own."""

from __future__ import annotations

from generator.project.fingerprint import tree_digest
from generator.project.render import render_many
from generator.project.variants import variants

CI_PARTS = (".github", ".gitlab-ci.yml")


def test_ci_axes_include_registry_and_provider_but_not_license(ci_variant):
    names = {name for name, _ in ci_variant.answers}
    assert {"registry", "ci_provider"} <= names
    assert "license" not in names  # a license never changes CI: one render serves all four


def test_each_provider_renders_only_its_own_ci_files(ci_variant, ci_files):
    provider = ci_variant.as_dict()["ci_provider"]
    project = ci_files.project
    present = {part for part in CI_PARTS if (project / part).exists()}
    assert present == {"github": {".github"}, "gitlab": {".gitlab-ci.yml"}, "none": set()}[provider]
    if provider == "github":
        assert [path.name for path in ci_files.workflows] == ["ci.yml", "publish.yml"]
        assert ci_files.dependabot is not None


def test_every_variant_renders_the_ci_files_of_its_representative(
    ci_projects, representative_id, tmp_path_factory
):
    # A pairwise cover of the whole matrix: every pair of answers of any two questions meets in
    # some variant, so an answer outside the CI axes that changed CI files would show up here.
    sample = {v.id: v.as_dict() for v in variants("pairwise")}
    rendered = render_many(tmp_path_factory.mktemp("coverage"), sample, jobs=2)
    stray = [
        r.variant_id
        for r in rendered
        if tree_digest(r.path, CI_PARTS) != ci_projects[representative_id(sample[r.variant_id])].digest
    ]
    assert stray == [], "these variants' CI files differ from their representative's: add the axis"
