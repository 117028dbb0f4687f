"""`dsdeploy new` records a `_src_path` someone else can update from, and says why when it cannot."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from generator.project.render import render_project
from generator.project.source import resolve_source, template_root

URL = "https://git.example.com/platform/dsdeploy.git"


def _clone(tmp_path):
    clone = tmp_path / "dsdeploy"
    subprocess.run(["git", "clone", "--quiet", "--no-tags", str(template_root()), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "remote", "set-url", "origin", URL], check=True)
    return clone


def test_a_checkout_with_a_remote_is_recorded_as_its_url(tmp_path):
    clone = _clone(tmp_path)
    source = resolve_source(root=clone)
    assert (source.render_from, source.record_as, source.notes) == (str(clone), URL, ())
    project = render_project(tmp_path / "p", template=source.render_from, record_as=source.record_as)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == URL
    assert answers["_commit"]


def test_an_unpushed_head_is_named(tmp_path):
    clone = _clone(tmp_path)
    subprocess.run(
        ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@x", "commit", "--quiet",
         "--allow-empty", "-m", "local"],
        check=True,
    )  # fmt: skip
    (note,) = resolve_source(root=clone).notes
    assert "is not pushed" in note


def test_what_template_names_is_recorded(tmp_path):
    clone = _clone(tmp_path)
    assert resolve_source(str(clone)).record_as == str(clone.resolve())
    assert resolve_source(URL).record_as == URL
    assert resolve_source(URL).render_from == URL


def test_a_copy_without_history_says_how_to_become_updatable(tmp_path):
    plain = tmp_path / "bundled"
    plain.mkdir()
    shutil.copy2(template_root() / "copier.yml", plain / "copier.yml")
    (note,) = resolve_source(root=plain).notes
    assert "--template GIT-URL" in note
    (note,) = resolve_source(str(plain)).notes
    assert "not a git checkout" in note


def test_the_environment_names_the_default_template(monkeypatch):
    monkeypatch.setenv("DSDEPLOY_TEMPLATE_URL", URL)
    assert resolve_source().record_as == URL


def test_credentials_in_the_template_url_are_not_recorded(tmp_path):
    # A CI checkout's origin carries the job's token; the answers file is committed and shared.
    clone = _clone(tmp_path)
    secret = "https://gitlab-ci-token:glcbt-s3cret@git.example.com/platform/dsdeploy.git"
    subprocess.run(["git", "-C", str(clone), "remote", "set-url", "origin", secret], check=True)
    source = resolve_source(root=clone)
    assert source.record_as == URL
    project = render_project(tmp_path / "p", template=source.render_from, record_as=source.record_as)
    answers_file = (project / ".copier-answers.yml").read_text()
    assert yaml.safe_load(answers_file)["_src_path"] == URL
    assert "s3cret" not in answers_file
    named = resolve_source("https://ghp_t0ken@git.example.com/platform/dsdeploy.git")
    assert (named.render_from, named.record_as) == (named.render_from, URL)
    assert "t0ken" in named.render_from  # the clone itself still authenticates
    assert (
        resolve_source("ssh://git:pw@git.example.com/dsdeploy.git").record_as
        == "ssh://git@git.example.com/dsdeploy.git"
    )
    assert (
        resolve_source("git@git.example.com:platform/dsdeploy.git").record_as
        == "git@git.example.com:platform/dsdeploy.git"
    )
