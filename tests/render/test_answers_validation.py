"""Hostile answers are refused with the sentence the user reads, and nothing is written."""

from __future__ import annotations

import keyword
import sys

import pytest
import yaml

from generator.errors import GeneratorError
from generator.project.render import render_project
from generator.project.source import template_root

SLUG_CHARS = "project_slug must be a DNS-1123 label: use only lowercase letters, digits and '-'"
SLUG_ENDS = "project_slug must be a DNS-1123 label: start and end it with a letter or digit."
IDENTIFIER = "package_name must be a Python identifier"
SHADOWS = 'package_name must not shadow "{}", a module the project itself imports'
EMAIL = 'author_email must be an email address like "name@example.com"'

HOSTILE = [
    ("project_name", "", "project_name must not be empty"),
    ("project_name", "   ", "project_name must not be empty"),
    ("project_name", "Tab\tName", "project_name must contain printable characters only"),
    ("project_name", "x" * 81, "project_name must be at most 80 characters"),
    ("project_slug", "My-Model", SLUG_CHARS),
    ("project_slug", "my_model", SLUG_CHARS),
    ("project_slug", "my.model", SLUG_CHARS),
    ("project_slug", "modèle", SLUG_CHARS),
    ("project_slug", "model; rm -rf /", SLUG_CHARS),
    ("project_slug", "-model", SLUG_ENDS),
    ("project_slug", "model-", SLUG_ENDS),
    ("project_slug", "9model", "project_slug must start with a letter"),
    ("project_slug", "a" * 54, "project_slug must be at most 53 characters"),
    ("project_slug", "", "project_slug must not be empty"),
    ("package_name", "class", "package_name must not be a Python keyword"),
    ("package_name", "json", "package_name must not shadow a standard-library module"),
    ("package_name", "os", "package_name must not shadow a standard-library module"),
    ("package_name", "sklearn", SHADOWS.format("sklearn")),
    ("package_name", "numpy", SHADOWS.format("numpy")),
    ("package_name", "fastapi", SHADOWS.format("fastapi")),
    ("package_name", "xgboost", SHADOWS.format("xgboost")),
    ("package_name", "1model", IDENTIFIER),
    ("package_name", "my-model", IDENTIFIER),
    ("package_name", "naïve", IDENTIFIER),
    ("package_name", "../escape", IDENTIFIER),
    ("package_name", "MyModel", "package_name must be lowercase"),
    ("package_name", "m" * 54, "package_name must be at most 53 characters"),
    ("author_email", "no-at-sign", EMAIL),
    ("author_email", "a@b", EMAIL),
    ("author_email", "a b@example.com", EMAIL),
    ("author_email", "@example.com", EMAIL),
    ("author_email", "a@@example.com", EMAIL),
    ("author_email", "a@.com", EMAIL),
    ("description", "two\nlines", "description must be a single printable line"),
    ("author_name", "", "author_name must not be empty"),
]


@pytest.mark.parametrize(
    ("question", "value", "message"), HOSTILE, ids=[f"{q}={v[:20]!r}" for q, v, _ in HOSTILE]
)
def test_hostile_answer_is_refused_and_nothing_written(tmp_path, template_snapshot, question, value, message):
    dest = tmp_path / "out" / "project"
    with pytest.raises(GeneratorError) as caught:
        render_project(dest, {question: value}, template=template_snapshot)
    assert f"'{question}'" in str(caught.value)
    assert message in str(caught.value)
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == [], "a scratch folder was left behind"


def _question_default(name: str) -> list[str]:
    data = yaml.safe_load((template_root() / "copier.yml").read_text())
    return data[name]["default"]


def test_keyword_list_is_exactly_pythons():
    assert sorted(_question_default("python_keywords")) == sorted(keyword.kwlist)


def test_stdlib_list_covers_this_interpreter():
    public = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    assert public <= set(_question_default("stdlib_module_names"))


def test_every_question_has_type_and_help():
    data = yaml.safe_load((template_root() / "copier.yml").read_text())
    questions = {k: v for k, v in data.items() if not k.startswith("_")}
    for name, question in questions.items():
        assert "type" in question, name
        if question.get("when") is not False:
            assert question.get("help"), name


def test_slug_and_package_derive_from_the_name(tmp_path, template_snapshot):
    project = render_project(tmp_path / "p", {"project_name": "Churn Model 2"}, template=template_snapshot)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "churn-model-2"
    assert answers["package_name"] == "churn_model_2"
