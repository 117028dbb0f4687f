"""Which charts of the matrix one check speaks for: a chart's digest with the lines the framework
and registry answers change masked (tests/chart/test_variants.py proves what they change)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

# The runtime's model format block in the chart's values.yaml: the line that opens it and its
# indented lines (the two `## @param` comments, name and version).
MODEL_FORMAT = re.compile(r"^    modelFormat:\n(?:      .*\n)+", re.MULTILINE)
# The registry's two lines: image.repository and model.image.repository.
REPOSITORIES = re.compile(r"^(  |    )repository: \S+\n", re.MULTILINE)
REPOSITORY_LINES = 2
# The only lines of the chart's templates that may name a repository: the image reference
# helpers' printf and their comment.
PRINTED = ('{{- printf "%s@%s" .', '{{- printf "%s:%s" .', "Image reference: ")
CHECKED_PARTS = ("charts", "deploy")


def masked_values(text: str, *, registry: bool = True) -> str:
    """values.yaml with the model format block and (``registry``) the registry's repositories masked."""
    text = MODEL_FORMAT.sub("    modelFormat: <framework>\n", text)
    if not registry:
        return text
    return REPOSITORIES.sub(lambda line: f"{line[1]}repository: <registry>\n", text)


def chart_key(tree: Any, store: Any, masked: dict[str, str], *, registry: bool = True) -> str:
    """The digest of the files under ``CHECKED_PARTS``, values.yaml's model format and image
    repositories masked (:func:`masked_values`); deploy/kubeflow/config.yaml, whose image the
    registry names too, is not a chart file: the Kubeflow tier compiles every registry's.

    ``masked`` caches the masked digest of each distinct values.yaml content (one dict per
    ``registry`` value); ``registry=False`` keeps the repositories (one key per registry).
    """
    digest = hashlib.sha256()
    for relpath in sorted(tree.files):
        if not relpath.startswith(tuple(f"{part}/" for part in CHECKED_PARTS)):
            continue
        if relpath == "deploy/kubeflow/config.yaml":
            continue
        content = tree.files[relpath].digest
        if relpath.endswith("/values.yaml") and relpath.count("/") == 2:
            if content not in masked:
                text = masked_values(store[content].decode(), registry=registry)
                masked[content] = hashlib.sha256(text.encode()).hexdigest()
            content = masked[content]
        digest.update(f"{relpath}\0{content}\0".encode())
    return digest.hexdigest()
