"""Every variant renders into a complete, parseable project.

The matrix is rendered by dependency (``matrix_render``), so checks that depend only on a file's
path and content run once per distinct (path, content) of each template file, across every
variant: every variant's every file is checked, each distinct one once. Checks of a variant as a
whole (its paths, its answers file) stay per variant; its project's own lint and tests run in
tests/projects, for a cover that tests/projects/test_covers.py shows speaks for every variant.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable

import pytest
import yaml

from generator.project.source import template_root

# Helm templates and GitHub expressions legitimately contain {{ }}; everything else must not.
HELM_TEMPLATES = re.compile(r"^charts/[^/]+/templates/")
JINJA_MARKERS = re.compile(r"(?<!\$)\{\{|\{%|\{#|%\}|#\}")
JINJA_TAGS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")

PARSERS: dict[str, Callable[[str], object]] = {
    ".yml": lambda text: list(yaml.safe_load_all(text)),
    ".yaml": lambda text: list(yaml.safe_load_all(text)),
    ".toml": tomllib.loads,
    ".json": json.loads,
}

# Every file of the template, relative to template/ (Jinja in names kept): one id each.
COPY_ROOT = template_root() / "template"
SOURCES = sorted(p.relative_to(COPY_ROOT).as_posix() for p in COPY_ROOT.rglob("*") if p.is_file())
# Those whose name, Jinja and .jinja removed, is a structured file, and the answers file.
STRUCTURED = [
    s
    for s in SOURCES
    if not HELM_TEMPLATES.match(s)
    and (JINJA_TAGS.sub("", s).removesuffix(".jinja").endswith(tuple(PARSERS)) or "answers_file" in s)
]


def source_id(source: str) -> str:
    """A readable test id: ``{{package_name}}`` reads ``<package_name>``, conditions are dropped."""
    return re.sub(r"\{%.*?%\}", "", re.sub(r"\{\{\s*(.*?)\s*\}\}", r"<\1>", source))


def _suffix(relpath: str) -> str:
    return "." + relpath.rsplit(".", 1)[-1] if "." in relpath.rsplit("/", 1)[-1] else ""


@pytest.fixture(scope="session")
def distinct_outputs(matrix_render) -> dict[str, dict[tuple[str, str], list[str]]]:
    """For each template file, its distinct (rendered path, content digest) -> variant ids."""
    outputs: dict[str, dict[tuple[str, str], list[str]]] = {}
    for variant_id, tree in matrix_render.trees.items():
        for relpath, entry in tree.files.items():
            outputs.setdefault(entry.source, {}).setdefault((relpath, entry.digest), []).append(variant_id)
    return outputs


def _outputs(source, distinct_outputs, matrix_render, errors="replace"):
    """(rendered path, text, example variant) for each distinct output of ``source``."""
    for (relpath, digest), variant_ids in sorted(distinct_outputs.get(source, {}).items()):
        yield relpath, matrix_render.store[digest].decode("utf-8", errors=errors), variant_ids[0]


def _is_structured(relpath: str) -> bool:
    return _suffix(relpath) in PARSERS and not HELM_TEMPLATES.match(relpath)


def test_no_template_suffix_left(variant, matrix_render):
    leftovers = [path for path in matrix_render.trees[variant.id].files if path.endswith(".jinja")]
    assert leftovers == []


def test_every_template_file_renders_somewhere(distinct_outputs):
    # The per-file checks below see every output of every template file, so every file must
    # reach some variant (a file no variant gets would go unchecked, and is dead weight).
    assert sorted(set(SOURCES) - set(distinct_outputs)) == []


def test_every_structured_output_is_parsed(distinct_outputs):
    # test_structured_files_parse runs for the files STRUCTURED names; none may slip past it.
    missed = sorted(
        source
        for source, outputs in distinct_outputs.items()
        if source not in STRUCTURED and any(_is_structured(relpath) for relpath, _ in outputs)
    )
    assert missed == []


@pytest.mark.parametrize("source", SOURCES, ids=source_id)
def test_no_jinja_markers_outside_helm_templates(source, distinct_outputs, matrix_render):
    offenders = [
        f"{relpath} (e.g. {example})"
        for relpath, text, example in _outputs(source, distinct_outputs, matrix_render)
        if not HELM_TEMPLATES.match(relpath) and JINJA_MARKERS.search(text)
    ]
    assert offenders == []


@pytest.mark.parametrize("source", STRUCTURED, ids=source_id)
def test_structured_files_parse(source, distinct_outputs, matrix_render):
    parsed = 0
    for relpath, text, example in _outputs(source, distinct_outputs, matrix_render, errors="strict"):
        if not _is_structured(relpath):
            continue
        try:
            PARSERS[_suffix(relpath)](text)
        except (ValueError, yaml.YAMLError) as exc:  # TOMLDecodeError, JSONDecodeError: ValueErrors
            pytest.fail(f"{relpath} (e.g. {example}) does not parse: {exc}")
        parsed += 1
    assert parsed >= 1, f"{source} rendered no YAML/TOML/JSON file outside the Helm templates"


def test_variant_has_its_structured_files(variant, matrix_render):
    structured = [path for path in matrix_render.trees[variant.id].files if _is_structured(path)]
    assert len(structured) >= 3, "expected at least pyproject.toml, answers file and chart files"


def test_answers_file_records_the_variant(variant, matrix_projects):
    answers = yaml.safe_load((matrix_projects[variant.id] / ".copier-answers.yml").read_text())
    for name, value in variant.answers:
        assert answers[name] == value


# The example data's rows, as a hard-coded request would carry them: any iris measurement row.
IRIS_ROW = re.compile(r"\[\s*\d\.\d+,\s*\d\.\d+,\s*\d\.\d+,\s*\d\.\d+\s*\]|\[\s*-?1,\s*4\s*\]")
# Where the example data may appear: train.py loads it, the READMEs show a request with it, and
# KServe's own v2 request bodies, kept verbatim (tests/serving/kserve/README.md says from where),
# are iris rows: the project's test sends them only to a model of iris's four columns.
IRIS_PLACES = re.compile(r"^(src/[^/]+/train\.py|README\.md|tests/serving/kserve/[^/]+\.json)$")


@pytest.mark.parametrize("source", SOURCES, ids=source_id)
def test_no_example_row_is_hard_coded_outside_the_documented_places(source, distinct_outputs, matrix_render):
    # Requests come from the model's signature; a literal row goes stale at the first model change.
    offenders = [
        f"{relpath}: {match.group(0)} (e.g. {example})"
        for relpath, text, example in _outputs(source, distinct_outputs, matrix_render)
        if not IRIS_PLACES.match(relpath)
        for match in [IRIS_ROW.search(text)]
        if match
    ]
    assert offenders == []
