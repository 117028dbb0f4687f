"""Image references as the chart takes them: repository and tag apart.

The chart builds its image from ``image.repository``, ``image.tag`` and ``image.digest``; a
deploy or a pod-spec smoke points it at a locally built image by setting those values, exactly
as the generated Makefile does (``--set image.repository=... --set image.tag=...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.errors import GeneratorError


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way the chart's values want it.

    Attributes:
        repository: Everything before the tag, registry and port included (``localhost:5000/team/m``).
        tag: The tag (``latest`` when the reference had none, as Docker assumes).
    """

    repository: str
    tag: str

    @classmethod
    def parse(cls, reference: str) -> ImageRef:
        """Split ``repository[:tag]``; a ``:`` before the last ``/`` is a registry port, not a tag.

        Raises:
            GeneratorError: The reference is empty or pinned by digest (kind loads images by tag).
        """
        if not reference or any(char.isspace() for char in reference):
            raise GeneratorError(f"{reference!r} is not an image reference", hint="pass repository:tag")
        if "@" in reference:
            raise GeneratorError(
                f"{reference} is pinned by digest; a locally built image is loaded and run by tag",
                hint="pass repository:tag",
            )
        last = reference.rsplit("/", 1)[-1]
        if ":" in last:
            repository, tag = reference.rsplit(":", 1)
            return cls(repository, tag)
        return cls(reference, "latest")

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"

    def chart_values(self) -> dict[str, Any]:
        """Values that make the chart run exactly this image from the node's store.

        ``digest`` is cleared because a digest wins over the tag in the chart (the ``full``
        values set pins one); ``IfNotPresent`` lets pods use an image ``kind load`` put there.
        """
        return {
            "image": {
                "repository": self.repository,
                "tag": self.tag,
                "digest": "",
                "pullPolicy": "IfNotPresent",
            }
        }

    def helm_set_args(self) -> list[str]:
        """The same values as ``--set`` arguments, as the generated Makefile passes them."""
        image = self.chart_values()["image"]
        args: list[str] = []
        for key in ("repository", "tag", "digest", "pullPolicy"):
            args += ["--set", f"image.{key}={image[key]}"]
        return args
