"""The swaps: a user makes the project theirs, in the places its README names.

Each swap renders one variant, then edits only user-owned places as the generated README's
"Change the model" says: ``load_dataset`` in ``train.py`` (other data: another feature count,
a regression target, a DataFrame with a category column), ``build_estimator`` in ``model.py``,
and a dependency added the way ``uv add`` adds it. Together the swaps cover every
``model_framework``, every ``python_version``, Dask, a mixed-type table with holes (missing
values in a number and a category column, some in the example request) and two regressions: a
tree ensemble, and a linear model in a pipeline with scaling, whose answers in a batch differ in
their last bits from a request's alone (issue 35: the project's tests must tolerate that, and
its Dask scoring, one model call per partition, too). Their images are the docker tier's cover
of the image axes (tests/image/test_matrix_coverage.py).

The swap tier (tests/swap) tests them: ``swapped(id)`` makes the edited project once per
session, and ``swap_run`` is its own lint and fast tests (what ``make test`` runs).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from generator.project.checks import ProjectRun
from support.projects import FAST, RunFn


@dataclass(frozen=True)
class Swap:
    """One user's change of model.

    Attributes:
        answers: The variant rendered (non-default answers only).
        imports: Import lines the new ``load_dataset`` needs, replacing the iris import.
        load_dataset: The new body of ``load_dataset`` (after its ``def`` line).
        model_py: The new ``model.py``, whole.
        dependencies: Requirements added to ``[project] dependencies``.
        task: The task the new model's signature must say.
        columns: The kinds of its columns, in order.
        missing: The columns that had missing values in training, in order.
    """

    answers: dict[str, str | bool]
    imports: str
    load_dataset: str
    model_py: str
    task: str
    columns: tuple[str, ...]
    dependencies: tuple[str, ...] = field(default=())
    missing: tuple[str, ...] = field(default=())


SWAPS = {
    # scikit-learn: a regression (10 features, a continuous target), the linear model in a pipeline
    # with scaling of issue 35: its answers in a batch differ in their last bits from one request's
    # alone, which the project's tests must tolerate; on Python 3.11, with Dask batch scoring
    # (partitions are batches too).
    "sklearn-diabetes-ridge": Swap(
        answers={
            "project_name": "Diabetes Progression",
            "package_name": "progression_app",
            "python_version": "3.11",
            "with_dask": True,
        },
        imports="from sklearn.datasets import load_diabetes",
        load_dataset="""    diabetes = load_diabetes()
    return Dataset(
        x=np.asarray(diabetes.data, dtype=np.float64),
        y=np.asarray(diabetes.target, dtype=np.float64),
        feature_names=tuple(str(name) for name in diabetes.feature_names),
    )
""",
        model_py="""from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def build_estimator(random_state=0):
    return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
""",
        task="regression",
        columns=("number",) * 10,
    ),
    # XGBoost: a regression (continuous target, FP64 answers, no probabilities).
    "xgboost-diabetes-regression": Swap(
        # The longest slug the chart allows (53), a package name unlike it, another author.
        answers={
            "model_framework": "xgboost",
            "project_slug": "blood-sugar-levels-regression-service-for-the-clinics",
            "package_name": "sugar",
            "author_name": "Zoë Ångström",
            "author_email": "zoe@example.org",
            "description": 'Predicts "sugar" levels: a regression, with quotes and a colon',
        },
        imports="from sklearn.datasets import load_diabetes",
        load_dataset="""    diabetes = load_diabetes()
    names = tuple(diabetes.feature_names)
    return Dataset(x=np.asarray(diabetes.data), y=np.asarray(diabetes.target), feature_names=names)
""",
        model_py="""from xgboost import XGBRegressor


def build_estimator(random_state=0):
    return XGBRegressor(n_estimators=80, max_depth=3, learning_rate=0.1, random_state=random_state, n_jobs=1)
""",
        task="regression",
        columns=("number",) * 10,
    ),
    # LightGBM: a pandas DataFrame with named columns, a category (string) and an integer column,
    # and holes as real tables have them (issue 29): sepal widths (every 7th row) and sizes (every
    # 5th) not recorded. LightGBM takes NaN and a missing category as they are. The held-out rows
    # of the example request are rows 42, 56 and 99: a missing width, both missing, none.
    "lightgbm-mixed-table": Swap(
        answers={
            "model_framework": "lightgbm",
            "python_version": "3.13",
            "project_name": "Qualité des Iris №2",
        },
        imports="import pandas as pd\nfrom sklearn.datasets import load_iris",
        load_dataset="""    iris = load_iris(as_frame=True)
    table = iris.data.rename(columns=lambda name: name.removesuffix(" (cm)").replace(" ", "_"))
    table["size"] = pd.cut(table["petal_length"], [0, 2, 5, 10], labels=["small", "medium", "large"])
    table["batch"] = np.arange(len(table)) % 3
    rows = np.arange(len(table))
    table.loc[rows % 7 == 0, "sepal_width"] = np.nan
    table.loc[rows % 5 == 1, "size"] = np.nan
    return Dataset(x=table, y=iris.target.to_numpy(), class_names=tuple(str(n) for n in iris.target_names))
""",
        model_py="""from lightgbm import LGBMClassifier


def build_estimator(random_state=0):
    # LightGBM takes the pandas category column as it is.
    return LGBMClassifier(n_estimators=40, num_leaves=7, random_state=random_state, n_jobs=1, verbose=-1)
""",
        task="classification",
        columns=("number",) * 4 + ("string", "integer"),
        dependencies=("pandas>=2.2",),
        missing=("sepal_width", "size"),
    ),
}


def apply_swap(project: Path, swap: Swap) -> None:
    """Edit ``project`` as the user would: train.py's data, model.py, and a dependency."""
    [package] = [p for p in (project / "src").iterdir() if (p / "train.py").is_file()]
    train = package / "train.py"
    text = train.read_text(encoding="utf-8")
    # Where a careful user (or `make format`) puts them: plain imports after numpy's, the
    # sklearn data import in place of iris's.
    lines = swap.imports.splitlines()
    plain = "".join(f"{line}\n" for line in lines if line.startswith("import "))
    data_import = "\n".join(line for line in lines if line.startswith("from "))
    text = text.replace("import numpy as np\n", "import numpy as np\n" + plain, 1)
    text = text.replace("from sklearn.datasets import load_iris", data_import)
    start = text.index("def load_dataset() -> Dataset:")
    body_start = text.index('    """', start)
    body_start = text.index('"""', text.index('"""', body_start) + 3) + 4  # after the docstring
    end = text.index("def evaluate(")
    text = text[:body_start] + swap.load_dataset + "\n\n" + text[end:]
    train.write_text(text, encoding="utf-8")
    (package / "model.py").write_text(swap.model_py, encoding="utf-8")
    if swap.dependencies:
        pyproject = project / "pyproject.toml"
        text = pyproject.read_text(encoding="utf-8")
        added = "".join(f'    "{requirement}",\n' for requirement in swap.dependencies)
        text = re.sub(r"(dependencies = \[\n)", lambda m: m.group(1) + added, text, count=1)
        pyproject.write_text(text, encoding="utf-8")


def make_swapped(render: Callable[[dict[str, str | bool]], Path], folder: Path, swap_id: str) -> Path:
    """Render swap ``swap_id``'s variant into ``folder``/project and edit it as its user would."""
    swap = SWAPS[swap_id]
    project = folder / "project"
    shutil.copytree(render(swap.answers), project)
    apply_swap(project, swap)
    return project


@pytest.fixture(scope="session")
def swapped(render: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``swapped(id)``: the project of swap ``id``, rendered and edited once per session."""
    made: dict[str, Path] = {}

    def _swapped(swap_id: str) -> Path:
        if swap_id not in made:
            made[swap_id] = make_swapped(render, tmp_path_factory.mktemp(f"swap-{swap_id}"), swap_id)
        return made[swap_id]

    return _swapped


@pytest.fixture
def swap_run(swapped: Callable[[str], Path], project_run: RunFn, swap_id: str) -> ProjectRun:
    """The own lint and fast tests of the test's swap (``swap_id``), run once per session."""
    return project_run(swapped(swap_id), FAST)
