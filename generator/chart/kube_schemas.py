"""Validate Kubernetes manifests offline against the schemas bundled in ``kubernetes-validate``.

:class:`KubernetesSchemas` loads each schema once and keeps the compiled validators, so a test
session can validate hundreds of manifests (every values set of every variant) in-process in
well under a second instead of starting one ``kubernetes-validate`` process per manifest.
It reads the same files, in the same layout, as ``kubernetes_validate.validate`` (the package's
only Python API, which re-reads a 1.8 MB definitions file on every call); a test checks that both
give the same verdicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols
from packaging.version import Version
from referencing import Registry, Resource

from generator.chart.crds import list_map_problems
from generator.errors import GeneratorError

_SCHEMA_ROOT = "kubernetes-json-schema"
_VERSION_DIR = re.compile(r"^v(\d+\.\d+\.\d+)-local(-strict)?$")


@dataclass(frozen=True)
class SchemaProblem:
    """One manifest that does not validate against one Kubernetes version.

    Attributes:
        resource: ``Kind/name`` of the manifest.
        version: Kubernetes minor version, e.g. ``"1.37"``.
        path: Dotted path of the offending field (empty for the whole object).
        message: What is wrong, as jsonschema words it.
    """

    resource: str
    version: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.resource} (Kubernetes {self.version}){where}: {self.message}"


def bundled_versions() -> list[str]:
    """Kubernetes versions whose schemas ``kubernetes-validate`` ships, oldest first ("1.37.0")."""
    try:
        root = resources.files("kubernetes_validate").joinpath(_SCHEMA_ROOT)
        names = [entry.name for entry in root.iterdir()]
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise GeneratorError(
            "kubernetes-validate is not installed",
            hint="pip install 'dsdeploy[test]' or pip install kubernetes-validate",
        ) from exc
    found = {match.group(1) for name in names if (match := _VERSION_DIR.match(name))}
    return sorted(found, key=Version)


def newest_versions(count: int = 3) -> list[str]:
    """The ``count`` newest bundled minor versions, oldest first (read at run time, never pinned)."""
    return bundled_versions()[-count:]


def kind_and_name(document: Mapping[str, Any]) -> str:
    """``Kind/name`` of a manifest, for messages."""
    metadata = document.get("metadata") or {}
    return f"{document.get('kind', '?')}/{metadata.get('name', '?')}"


def _schema_file(document: Mapping[str, Any]) -> str:
    # kubernetes-validate's naming: kind lower-cased, then the API group's first label and the
    # version: apps/v1 -> apps-v1, networking.k8s.io/v1 -> networking-v1, v1 -> v1.
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(document["apiVersion"]))
    return f"{str(document['kind']).lower()}-{api_version}.json"


class KubernetesSchemas:
    """Strict validators for several Kubernetes versions, loaded lazily and kept.

    Args:
        versions: Full versions to validate against ("1.37.0"); default: the three newest bundled.
        strict: Use the ``-strict`` schemas, which refuse unknown fields (a typo in a template).
        crd_schemas: Extra schemas for custom resources by ``(apiVersion, kind)`` (e.g. a DaskJob),
            as JSON schemas (see :mod:`generator.chart.crds`).
    """

    def __init__(
        self,
        versions: Sequence[str] | None = None,
        *,
        strict: bool = True,
        crd_schemas: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    ) -> None:
        self.versions: tuple[str, ...] = tuple(versions or newest_versions(3))
        self.strict = strict
        self._crds: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
        for key, schema in (crd_schemas or {}).items():
            self._crds[key] = jsonschema.Draft7Validator(dict(schema))

    @property
    def minor_versions(self) -> tuple[str, ...]:
        """The versions as ``major.minor`` ("1.37")."""
        return tuple(".".join(version.split(".")[:2]) for version in self.versions)

    def validate(self, document: Mapping[str, Any]) -> list[SchemaProblem]:
        """Validate one manifest against every version; return the problems (empty when valid)."""
        resource = kind_and_name(document)
        if "apiVersion" not in document or "kind" not in document:
            return [SchemaProblem(resource, "-", "", "manifest has no apiVersion or kind")]
        crd = self._crds.get((str(document["apiVersion"]), str(document["kind"])))
        if crd is not None:
            found = [_problem(resource, "crd", error) for error in _first_error(crd, document)]
            # Duplicate map keys (two env entries of one name) pass JSON Schema; the API server refuses them.
            duplicates = list_map_problems(crd.schema, document)
            return found + [SchemaProblem(resource, "crd", "", problem) for problem in duplicates]
        problems: list[SchemaProblem] = []
        for version, minor in zip(self.versions, self.minor_versions, strict=True):
            validator = _validator(version, self.strict, _schema_file(document))
            if validator is None:
                problems.append(
                    SchemaProblem(
                        resource, minor, "", f"no schema for {document['apiVersion']} {document['kind']}"
                    )
                )
                continue
            problems.extend(_problem(resource, minor, error) for error in _first_error(validator, document))
        return problems

    def validate_all(self, documents: Iterable[Mapping[str, Any]]) -> list[SchemaProblem]:
        """Validate many manifests; return every problem found."""
        return [problem for document in documents for problem in self.validate(document)]


def _first_error(
    validator: jsonschema.protocols.Validator, document: Mapping[str, Any]
) -> list[jsonschema.exceptions.ValidationError]:
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    return [] if error is None else [error]


def _problem(resource: str, version: str, error: jsonschema.exceptions.ValidationError) -> SchemaProblem:
    return SchemaProblem(
        resource, version, ".".join(str(part) for part in error.absolute_path), error.message
    )


def _load(version: str, strict: bool, filename: str) -> Any | None:
    folder = f"v{version}-local" + ("-strict" if strict else "")
    path = resources.files("kubernetes_validate").joinpath(_SCHEMA_ROOT, folder, filename)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _registry(version: str, strict: bool) -> Registry[Any]:
    # One registry per version holds the big definitions file; every kind's validator shares it,
    # and `referencing` caches resolved references inside it.
    definitions = _load(version, strict, "_definitions.json")
    if definitions is None:
        raise GeneratorError(f"kubernetes-validate has no schemas for Kubernetes {version}")
    return Resource.from_contents(definitions) @ Registry()


@cache
def _validator(version: str, strict: bool, filename: str) -> jsonschema.protocols.Validator | None:
    # Cached per process: schemas are immutable package data, so sharing them across checker
    # objects and tests is safe and is what makes batch validation cheap.
    schema = _load(version, strict, filename)
    if schema is None:
        return None
    registry = Resource.from_contents(schema) @ _registry(version, strict)
    return jsonschema.Draft202012Validator(schema, registry=registry)
