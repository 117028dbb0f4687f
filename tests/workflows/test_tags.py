"""Both CI providers push the tag scheme the README documents, computed by their own rules."""

from __future__ import annotations

import pytest

from generator.errors import GeneratorError

SHA_TAG = "sha-0123456"
# (git ref, tags besides sha-<7>): the README's table.
DOCUMENTED = [
    ("refs/tags/v1.2.3", {"1.2.3", "1.2", "latest"}),
    ("refs/tags/v10.0.12", {"10.0.12", "10.0", "latest"}),
    ("refs/tags/v1.2.3-rc.1", {"1.2.3-rc.1"}),
    ("refs/tags/v2.0.0-beta.2", {"2.0.0-beta.2"}),
    ("refs/heads/main", {"main"}),
]
IDS = [ref for ref, _ in DOCUMENTED]


@pytest.mark.parametrize(("ref", "expected"), DOCUMENTED, ids=IDS)
def test_github_pushes_the_documented_tags(ref, expected, project_for, github_tags):
    assert github_tags(project_for(ci_provider="github"), ref) == expected | {SHA_TAG}


@pytest.mark.parametrize(("ref", "expected"), DOCUMENTED, ids=IDS)
def test_gitlab_pushes_the_documented_tags(ref, expected, project_for, gitlab_tags):
    assert gitlab_tags(project_for(ci_provider="gitlab"), ref) == expected | {SHA_TAG}


# Not versions, or not valid image tags (`+` is not allowed in one): both providers stop.
NOT_VERSIONS = ["refs/tags/version-one", "refs/tags/v1.2", "refs/tags/v2.0.0+build.5"]


@pytest.mark.parametrize("ref", NOT_VERSIONS)
def test_a_tag_that_is_no_version_stops_the_push(ref, project_for, github_tags, gitlab_tags):
    with pytest.raises(GeneratorError, match=r"is not vX\.Y\.Z"):
        github_tags(project_for(ci_provider="github"), ref)
    with pytest.raises(GeneratorError, match=r"is not vX\.Y\.Z"):
        gitlab_tags(project_for(ci_provider="gitlab"), ref)


def test_every_registry_shares_the_scheme(registry, project_for, github_tags, gitlab_tags):
    for ref, expected in DOCUMENTED:
        assert github_tags(project_for(registry=registry, ci_provider="github"), ref) == expected | {SHA_TAG}
        assert gitlab_tags(project_for(registry=registry, ci_provider="gitlab"), ref) == expected | {SHA_TAG}
