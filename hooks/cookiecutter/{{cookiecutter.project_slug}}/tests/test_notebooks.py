"""The notebooks in notebooks/ run from top to bottom in a fresh kernel, as a reader runs them.

Each runs in a temporary folder (what it writes, e.g. ``artifacts/``, stays out of the
project) on the project's own environment. A failing cell fails the test with its traceback.
"""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# Seconds a cell may take; training the example model takes about one.
CELL_TIMEOUT = 300


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Imported here: a run that deselects the notebooks (-m "not notebook") skips Jupyter's imports.
    import nbformat
    from nbclient import NotebookClient

    # Jupyter's own folders in the test's tmp, not the user's home.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on the first failure
    counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "every code cell runs, in order"
