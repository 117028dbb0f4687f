"""The training data's profile: the reference that live traffic and batch scoring are compared with.

Owned by the template: ``copier update`` may replace this file.

Training writes it beside the signature as ``profile.json``: per input column its bins and the
share of training rows in each, and the same for the model's answers on those rows.

* A number (``number``, ``integer``) gets decile edges: up to ten bins, open at both ends, so a
  value beyond anything training saw falls in the first or last bin; labels such as
  ``"03 [5.1, 5.6)"`` (the index first, so they sort in order).
* A string or boolean gets a bin per common category (the 17 most frequent), ``<other>`` for
  the categories training saw less often, and ``<unseen>`` for any it never saw (up to 1,000 seen
  categories are remembered; past that, a new one counts as other).
* Every column has ``<missing>`` (None, NaN).
* The answers: the share of each class (a classifier), or decile bins of the value (a regressor).

At most ``MAX_BINS`` bins per column, so the service's drift counters have bounded labels.
This module is the profile's form; ``profile_data.derive_profile`` makes one from rows.
``Profile.count`` puts rows into those bins, the service per model call and batch scoring per
partition, and ``psi`` turns counts into the population stability index, as the chart's
recording rules do in PromQL (with the same floor on empty bins).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .integrity import write_json
from .signature import Signature, is_missing

PROFILE_FILE = "profile.json"
PROFILE_VERSION = 1
MAX_BINS = 20
MISSING, OTHER, UNSEEN = "<missing>", "<other>", "<unseen>"
#: The share an empty bin counts as in the PSI: without a floor one empty bin makes it infinite.
#: The chart's recording rules use the same floor (``clamp_min``).
SHARE_FLOOR = 1e-4
BinKind = Literal["numeric", "categorical"]


class ProfileError(ValueError):
    """A profile that does not fit the model, or a file that is not a profile."""


@dataclass(frozen=True)
class Bins:
    """The bins of one column (or of the answers), with the reference share of rows in each.

    Attributes:
        name: The column's name (``prediction`` for the answers).
        kind: ``numeric`` (edges) or ``categorical`` (categories).
        labels: One label per bin, in order; the last is ``<missing>`` for a column.
        shares: The reference share of rows in each bin (they add up to 1).
        edges: Numeric: the inner edges, ascending; bin ``i`` holds ``edges[i-1] <= v < edges[i]``.
        categories: Categorical: the categories with a bin of their own, in ``labels`` order.
        seen: Categorical: every category the reference held (up to ``SEEN_LIMIT``).
    """

    name: str
    kind: BinKind
    labels: tuple[str, ...]
    shares: tuple[float, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    seen: tuple[str, ...] = ()

    @cached_property
    def _index(self) -> dict[str, int]:
        index = {category: i for i, category in enumerate(self.categories)}
        other = len(self.categories)
        for category in self.seen:
            index.setdefault(category, other)
        return index

    @cached_property
    def _edges(self) -> NDArray[np.float64]:
        return np.asarray(self.edges, dtype=np.float64)

    @property
    def missing_bin(self) -> int:
        """The index of ``<missing>``."""
        return self.labels.index(MISSING)

    def count(self, values: Any) -> NDArray[np.int64]:
        """How many of ``values`` fall in each bin.

        Args:
            values: One column's values (a float array, or any sequence of JSON-like values).

        Returns:
            One count per bin, in ``labels`` order.
        """
        if self.kind == "numeric":
            numbers = as_floats(values)
            missing = np.isnan(numbers)
            where = np.searchsorted(self._edges, numbers, side="right")
            where[missing] = self.missing_bin
            return np.bincount(where, minlength=len(self.labels))
        counts = np.zeros(len(self.labels), dtype=np.int64)
        index, unseen, missing = self._index, self.labels.index(UNSEEN), self.missing_bin
        # Tallied first (in C), so the Python below runs once per distinct value, not per row.
        tally = Counter(values.tolist() if isinstance(values, np.ndarray) else values)
        for value, times in tally.items():
            counts[missing if is_missing(value) else index.get(category(value), unseen)] += times
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The bins as JSON-ready values."""
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "labels": list(self.labels)}
        data["shares"] = [round(share, 6) for share in self.shares]
        if self.kind == "numeric":
            data["edges"] = list(self.edges)
        else:
            data["categories"] = list(self.categories)
            data["seen"] = list(self.seen)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bins:
        """Read bins written by ``to_dict``.

        Raises:
            ProfileError: A field is missing or inconsistent.
        """
        try:
            bins = cls(
                name=str(data["name"]),
                kind=data["kind"],
                labels=tuple(str(label) for label in data["labels"]),
                shares=tuple(float(share) for share in data["shares"]),
                edges=tuple(float(edge) for edge in data.get("edges", ())),
                categories=tuple(str(category) for category in data.get("categories", ())),
                seen=tuple(str(category) for category in data.get("seen", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfileError(f"bins {data.get('name', '?')!r}: {exc}") from exc
        expected = len(bins.edges) + 2 if bins.kind == "numeric" else len(bins.categories) + 3
        if bins.kind not in ("numeric", "categorical") or len(bins.labels) != expected:
            raise ProfileError(f"bins {bins.name!r}: {len(bins.labels)} labels for a {bins.kind} column")
        if len(bins.shares) != len(bins.labels) or len(bins.labels) > MAX_BINS:
            raise ProfileError(f"bins {bins.name!r}: {len(bins.shares)} shares for {len(bins.labels)} labels")
        return bins


@dataclass(frozen=True)
class Profile:
    """The reference: every input column's bins, and the answers' bins.

    Attributes:
        rows: How many rows it was made from.
        features: One ``Bins`` per input column, in the signature's order.
        prediction: The answers' bins (classes, or deciles of a regression's values).
    """

    rows: int
    features: tuple[Bins, ...]
    prediction: Bins

    def count(self, matrix: Any) -> list[NDArray[np.int64]]:
        """Per column, how many of ``matrix``'s rows fall in each of its bins.

        Args:
            matrix: Rows in column order: what ``check_features`` returns (a float matrix, or an
                object matrix for a table), or a DataFrame with the profile's columns.
        """
        if hasattr(matrix, "columns"):  # a DataFrame: by name, whatever its order
            return [bins.count(matrix[bins.name].to_numpy()) for bins in self.features]
        matrix = np.asarray(matrix)
        return [bins.count(matrix[:, i]) for i, bins in enumerate(self.features)]

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-ready values (the form of ``profile.json``)."""
        return {
            "version": PROFILE_VERSION,
            "rows": self.rows,
            "features": [bins.to_dict() for bins in self.features],
            "prediction": self.prediction.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Read a profile written by ``to_dict``.

        Raises:
            ProfileError: It is not a profile of this version.
        """
        if not isinstance(data, Mapping) or data.get("version") != PROFILE_VERSION:
            raise ProfileError(f"not a version {PROFILE_VERSION} profile")
        try:
            return cls(
                rows=int(data["rows"]),
                features=tuple(Bins.from_dict(item) for item in data["features"]),
                prediction=Bins.from_dict(data["prediction"]),
            )
        except (KeyError, TypeError) as exc:
            raise ProfileError(f"no {exc} in the profile") from exc

    def check(self, signature: Signature) -> None:
        """Check that this profile describes ``signature``'s columns, in order.

        Raises:
            ProfileError: Naming the first column that differs.
        """
        names = tuple(bins.name for bins in self.features)
        if names != signature.names:
            raise ProfileError(f"its columns {list(names)} are not the model's {list(signature.names)}")

    def write(self, folder: Path) -> Path:
        """Write ``profile.json`` into ``folder`` (atomically); its path."""
        path = Path(folder) / PROFILE_FILE
        write_json(path, self.to_dict())
        return path


def read_profile(folder: Path, signature: Signature | None = None) -> Profile | None:
    """The ``profile.json`` in ``folder``, checked against ``signature``; None when there is none.

    Raises:
        ProfileError: The file is there but is not a profile of these columns.
    """
    path = Path(folder) / PROFILE_FILE
    if not path.is_file():
        return None
    try:
        profile = Profile.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if signature is not None:
            profile.check(signature)
    except (ValueError, OSError) as exc:  # JSONDecodeError and ProfileError are ValueErrors
        raise ProfileError(f"{path}: {exc} (delete it, or write it again from your data)") from exc
    return profile


def shares(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Counts as shares of their total (all zeros when there are none)."""
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def psi(reference: Sequence[float], counts: Sequence[int]) -> float:
    """The population stability index of ``counts`` against the ``reference`` shares.

    ``sum((live - ref) * ln(live / ref))`` over the bins, each share floored at ``SHARE_FLOOR``;
    0 for identical shares; above 0.2 is commonly read as a significant shift. NaN without rows.
    """
    live = np.asarray(counts, dtype=np.float64)
    if live.sum() == 0:
        return math.nan
    live = np.maximum(live / live.sum(), SHARE_FLOOR)
    ref = np.maximum(np.asarray(reference, dtype=np.float64), SHARE_FLOOR)
    return float(np.sum((live - ref) * np.log(live / ref)))


def as_floats(values: Any) -> NDArray[np.float64]:
    """A column's values as floats, a missing value (None, NaN, ``pd.NA``) as NaN."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    return np.array([math.nan if is_missing(v) else float(v) for v in values], dtype=np.float64)


def category(value: Any) -> str:
    """A category's label: its text (numpy scalars as the Python value they hold)."""
    return str(value.item() if isinstance(value, np.generic) else value)
