"""An MLflow model folder: its flavour's model, its signature's columns, its input example's rows.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

Reads the files MLflow writes (``MLmodel``, the flavour's model file, ``input_example.json``)
without MLflow itself: the ``sklearn``, ``xgboost`` and ``lightgbm`` flavours, their models
stored natively (XGBoost JSON/UBJ, LightGBM text), with skops, or pickled (loaded only through
``model_formats.load_pickled``). Runs in the dev environment: PyYAML reads ``MLmodel``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import model_formats
from .artifact import ModelLoadError
from .boosters import load_lightgbm, load_xgboost
from .model_formats import Source, load_skops, loaded
from .signature import ColumnKind

FLAVOURS = ("sklearn", "xgboost", "lightgbm")
#: The kind of each MLflow column type the service takes.
KINDS: Mapping[str, ColumnKind] = {
    "double": "number",
    "float": "number",
    "integer": "integer",
    "long": "integer",
    "boolean": "boolean",
    "string": "string",
}
#: Types that MLflow's own skops-saved LightGBM and XGBoost models hold (their MLmodel lists
#: them): trusted here by name. Any other type an MLmodel lists still needs --trust, since the
#: MLmodel file comes from the same hands as the model.
LIBRARY_TYPES = frozenset(
    {
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
    }
)


def load_mlflow(folder: Path, trust: Collection[str] = ()) -> Source:
    """The model of an MLflow model folder, with its signature's columns and its example's rows.

    Raises:
        ModelLoadError: No flavour this project serves, a file missing, or a column type the
            service does not take.
    """
    import yaml  # dev environment only: `make import-model` runs there

    meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
    flavours = meta.get("flavors") or {}
    name = next((flavour for flavour in FLAVOURS if flavour in flavours), None)
    if name is None:
        found = ", ".join(sorted(flavours)) or "none"
        raise ModelLoadError(f"{folder}: MLflow flavours {found}; the importer takes {', '.join(FLAVOURS)}")
    flavour = flavours[name]
    path = folder / str(flavour.get("pickled_model") or flavour.get("data") or "")
    if not path.is_file():
        raise ModelLoadError(f"{folder}: the {name} flavour's model file {path.name or '(none)'} is missing")
    model_class = str(flavour.get("model_class", ""))
    native = False  # a library's own model file: its names are its booster's, it takes a matrix
    if flavour.get("serialization_format") == "skops" and (name == "sklearn" or "sklearn" in model_class):
        listed = set(flavour.get("skops_trusted_types") or ()) & LIBRARY_TYPES
        estimator = load_skops(path, trust, known=listed)
    elif name == "xgboost":
        estimator, native = load_xgboost(path), True
    elif name == "lightgbm" and model_class.endswith(".Booster"):
        estimator, native = load_lightgbm(path), True
    else:  # the sklearn flavour's pickle or cloudpickle, or a pickled LightGBM wrapper
        estimator = model_formats.load_pickled(
            path
        )  # looked up at call time: where pickles load is its choice
    names, kinds = signature_columns(folder, meta)
    rows = example_rows(folder, meta, names)
    if not names and rows and isinstance(rows[0], dict):
        names = tuple(rows[0])
    ordered = tuple(tuple(row[n] for n in names) if isinstance(row, dict) else tuple(row) for row in rows)
    source = loaded(estimator, "mlflow", names=names, kinds=kinds, rows=ordered)
    fitted_names = getattr(source.estimator, "feature_names_in_", None)
    if native or fitted_names is None:
        return source
    # Fitted on a DataFrame: it is given one, in its own columns when MLflow named none.
    return replace(source, names=source.names or tuple(str(n) for n in fitted_names), frame=True)


def signature_columns(
    folder: Path, meta: Mapping[str, Any]
) -> tuple[tuple[str, ...], tuple[ColumnKind, ...]]:
    """Column names and kinds from the MLflow signature's inputs (none without a signature).

    Raises:
        ModelLoadError: An input the service cannot take (a type of its own, a tensor not 2-D).
    """
    inputs = (meta.get("signature") or {}).get("inputs")
    if not inputs:
        return (), ()
    specs = json.loads(inputs) if isinstance(inputs, str) else inputs
    if len(specs) == 1 and specs[0].get("type") == "tensor":
        tensor = specs[0]["tensor-spec"]
        shape, dtype = tensor.get("shape") or [], str(tensor.get("dtype", ""))
        if len(shape) != 2 or shape[1] < 1:
            raise ModelLoadError(
                f"{folder}: the MLflow signature's input is a tensor of shape {shape}, not rows"
            )
        kind: ColumnKind = (
            "number" if dtype.startswith("float") else "integer" if "int" in dtype else "string"
        )
        return tuple(f"x{i}" for i in range(shape[1])), (kind,) * shape[1]
    names, kinds = [], []
    for spec in specs:
        kind_of = KINDS.get(str(spec.get("type")))
        if kind_of is None or "name" not in spec:
            raise ModelLoadError(
                f"{folder}: MLflow input {spec.get('name', '(unnamed)')!r} of type {spec.get('type')!r}: "
                f"the service takes named columns of type {', '.join(KINDS)}"
            )
        names.append(str(spec["name"]))
        kinds.append(kind_of)
    return tuple(names), tuple(kinds)


def example_rows(folder: Path, meta: Mapping[str, Any], names: tuple[str, ...]) -> list[Any]:
    """The input example's rows: lists in column order, or objects keyed by column (none without one)."""
    info = meta.get("saved_input_example_info") or {}
    path = folder / str(info.get("artifact_path", ""))
    if not info or not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "data" in data:  # pandas' split orient: columns and rows
        columns = [str(c) for c in data.get("columns") or names]
        return [dict(zip(columns, row, strict=True)) for row in data["data"]]
    if isinstance(data, dict) and "inputs" in data:  # a tensor example wrapped as serving input
        data = data["inputs"]
    return list(data) if isinstance(data, list) else []
