"""The README's `cosign verify` commands accept the identity CI signs with, and no other."""

from __future__ import annotations

import re
import shlex

import pytest

ISSUER = {"github": "https://token.actions.githubusercontent.com", "gitlab": "https://gitlab.com"}


def _verify_commands(readme: str) -> list[list[str]]:
    """Each `cosign verify` command of the README as arguments (continuation lines joined)."""
    joined = readme.replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.startswith("cosign verify ")]


def _value(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} missing from {' '.join(command)}"
    return command[command.index(flag) + 1]


@pytest.mark.parametrize(
    ("ci", "registry_answer"), [("github", "ghcr"), ("gitlab", "gitlab"), ("github", "ecr")]
)
def test_readme_verifies_signatures_against_the_ci_that_signs(ci, registry_answer, project_for):
    registry = registry_answer
    files = project_for(ci_provider=ci, registry=registry)
    answers = files.answers()
    readme = (files.project / "README.md").read_text()
    # The signing job's file, as Fulcio names it: the workflow path (GitHub) or the pipeline
    # file after `//` (GitLab), at the tag's ref.
    if ci == "github":
        assert "cosign sign" in (files.project / ".github" / "workflows" / "publish.yml").read_text()
        owner = answers["registry_namespace"] if registry == "ghcr" else "<owner>"
        signer = f"https://github.com/{owner}/{answers['project_slug']}/.github/workflows/publish.yml@refs/tags/v1.2.3"
    else:
        assert "cosign sign" in (files.project / ".gitlab-ci.yml").read_text()
        owner = answers["registry_namespace"]
        signer = f"https://gitlab.com/{owner}/{answers['project_slug']}//.gitlab-ci.yml@refs/tags/v1.2.3"
    commands = _verify_commands(readme)
    assert len(commands) == 2  # the chart and the image
    for command in commands:
        assert _value(command, "--certificate-oidc-issuer") == ISSUER[ci]
        assert not any(arg.startswith("--certificate-oidc-issuer-regexp") for arg in command)
        identity = re.compile(_value(command, "--certificate-identity-regexp"))
        assert identity.search(signer)
        for forged in (
            signer.replace(f"{owner}/", "someone-else/"),
            signer.replace("@refs/tags/v1.2.3", "@refs/heads/try-me"),
            signer.replace("publish.yml", "other.yml").replace(".gitlab-ci.yml", "evil.yml"),
            signer.replace("https://", "https://evil.example/?"),
        ):
            assert not identity.search(forged), forged
    if owner.startswith("<"):
        assert f"in place of `{owner}`" in " ".join(readme.split())
