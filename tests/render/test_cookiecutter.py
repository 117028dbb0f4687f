"""cookiecutter and cruft render the same project as copier from the cookiecutter tree (issue 14).

The tree is built from template/ and copier.yml (generator/project/cookiecutter_tree.py), never
committed: these tests build it fresh, diff both engines' renders of a pairwise cover file by
file (answers files aside), render cruft's from the tree as the release publishes it (the
`cookiecutter` branch), and check bad answers are refused by the pre-gen hook as by copier.
"""

from __future__ import annotations

import difflib
import json
import stat
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from generator.errors import GeneratorError
from generator.project import cookiecutter_tree
from generator.project.render_by_dependency import DependencyRenderer
from generator.project.tree import write_tree
from generator.project.variants import Variant, load_axes, pairwise

ANSWERS_FILES = {".copier-answers.yml", ".cruft.json"}
PAIRWISE = pairwise(load_axes())

# Bad answers of each kind copier.yml's validators catch (tests/render/test_answers_validation.py
# holds the long list for copier), with the start of copier's sentence.
BAD = [
    ("project_name", "   ", "project_name must not be empty"),
    ("project_slug", "my model", "project_slug must be a DNS-1123 label: use only lowercase"),
    ("project_slug", "9model", "project_slug must start with a letter"),
    ("package_name", "class", "package_name must not be a Python keyword"),
    ("package_name", "json", "package_name must not shadow a standard-library module"),
    ("package_name", "numpy", 'package_name must not shadow "numpy"'),
    ("package_name", "MyModel", "package_name must be lowercase"),
    ("author_email", "a@b", "author_email must be an email address"),
    ("description", "two\nlines", "description must be a single printable line"),
    ("registry_host", "https://quay.io", "registry_host must be a host name without a scheme"),
    ("registry_host", "Quay.io", "registry_host must be a lowercase host name"),
    ("registry_host", "registry.local:99999", "registry_host's port must be a number"),
    ("registry_host", "myhost", "registry_host must contain a '.' or a port"),
    ("registry_namespace", "My-Org", "registry_namespace must be a repository path in lowercase"),
    ("aws_account_id", "12345", "aws_account_id must be the 12-digit AWS account id"),
]


REPO = Path(__file__).resolve().parents[2]
PUBLISH = REPO / "scripts" / "publish-cookiecutter.sh"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tree built now from template/ and copier.yml, as `dsdeploy cookiecutter-tree` writes it."""
    path = tmp_path_factory.mktemp("cookiecutter-tree") / "tree"
    cookiecutter_tree.write(cookiecutter_tree.build(), path)
    return path


@pytest.fixture(scope="module")
def copier_pairwise(template_snapshot: Path) -> Iterator[Callable[[Variant, Path], Path]]:
    """``write(variant, dest)``: copier's render of a pairwise variant, written to ``dest``.

    Rendered by dependency (copier's own worker and Jinja environment, each file once per
    distinct answers it reads; tests/render/test_equivalence.py proves it equals ``copier copy``)
    to keep this file within the fast tier's budget; the cruft test and the refusals below run
    copier itself.
    """
    with DependencyRenderer(template_snapshot) as renderer:

        def write(variant: Variant, dest: Path) -> Path:
            return write_tree(renderer.render(variant.as_dict(), folder_name=dest.name), renderer.store, dest)

        yield write


@pytest.fixture(scope="module")
def cc_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cookiecutter config keeping its replay and clone folders out of $HOME."""
    root = tmp_path_factory.mktemp("cookiecutter-config")
    config = root / "config.yaml"
    config.write_text(json.dumps({"cookiecutters_dir": str(root / "cc"), "replay_dir": str(root / "replay")}))
    return config


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file and folder under ``root`` (answers files aside): bytes and mode."""
    found: dict[str, tuple[bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.name in ANSWERS_FILES:
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        found[rel + ("/" if path.is_dir() else "")] = (b"" if path.is_dir() else path.read_bytes(), mode)
    return found


def _diff(copier_dir: Path, other_dir: Path, label: str) -> str | None:
    """None when both trees are equal; else the differing paths and a unified diff's head."""
    want, have = _snapshot(copier_dir), _snapshot(other_dir)
    changed = [p for p in sorted(set(want) | set(have)) if want.get(p) != have.get(p)]
    if not changed:
        return None
    lines = [f"{len(changed)} path(s) differ between copier and {label}; first: {changed[:8]}"]
    for path in changed[:3]:
        if path in want and path in have and want[path][0] != have[path][0]:
            diff = difflib.unified_diff(
                want[path][0].decode(errors="replace").splitlines(),
                have[path][0].decode(errors="replace").splitlines(),
                f"copier/{path}",
                f"{label}/{path}",
                lineterm="",
            )
            lines.extend(list(diff)[:30])
        else:
            modes = [oct(tree[path][1]) if path in tree else "absent" for tree in (want, have)]
            lines.append(f"{path}: copier {modes[0]}, {label} {modes[1]}")
    return "\n".join(lines)


def _cookiecutter(tree: Path, config: Path, answers: Mapping[str, Any], out: Path) -> Path:
    return Path(
        cookiecutter(
            str(tree),
            no_input=True,
            extra_context=dict(answers),
            output_dir=str(out),
            config_file=str(config),
        )
    )


def test_tree_command_writes_the_tree_and_keeps_other_folders(tmp_path: Path, tree: Path) -> None:
    """`dsdeploy cookiecutter-tree OUT` writes what the parity tests render; a folder of other
    files is refused with the fix, untouched."""
    from typer.testing import CliRunner

    from generator.cli import app

    out = tmp_path / "tree"
    result = CliRunner().invoke(app, ["cookiecutter-tree", str(out)])
    assert result.exit_code == 0, result.output
    read = cookiecutter_tree.read_tree
    assert cookiecutter_tree.differences(read(tree), read(out)) == []
    again = CliRunner().invoke(app, ["cookiecutter-tree", str(out)])  # an earlier tree is replaced
    assert again.exit_code == 0, again.output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    refused = CliRunner().invoke(app, ["cookiecutter-tree", str(mine)])
    assert refused.exit_code == 2, refused.output
    assert "not a cookiecutter tree" in refused.stderr
    assert (mine / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("pair", PAIRWISE, ids=[v.id for v in PAIRWISE])
def test_cookiecutter_renders_copiers_project(
    pair: Variant,
    copier_pairwise: Callable[[Variant, Path], Path],
    tree: Path,
    cc_config: Path,
    tmp_path: Path,
) -> None:
    """Same paths, bytes and modes as copier for each variant of the pairwise cover."""
    project = _cookiecutter(tree, cc_config, pair.as_dict(), tmp_path / "cookiecutter")
    problem = _diff(copier_pairwise(pair, tmp_path / "copier"), project, "cookiecutter")
    assert problem is None, problem


def test_cookiecutter_keeps_unusual_answers_as_typed(
    render: Callable[..., Path], tree: Path, cc_config: Path, tmp_path: Path
) -> None:
    """Accents, quotes, backslashes and HTML characters come out as copier writes them."""
    answers = {
        "project_name": 'Modèle d\'été <v2> & "co"',
        "description": 'Prédit l\'été: <b>&amp; "quoted" \\ backslash',
        "author_name": "Zoë O'Neil",
        "registry": "other",
        "registry_host": "harbor.example.com:8443",
        "registry_namespace": "team/ml",
    }
    project = _cookiecutter(tree, cc_config, answers, tmp_path)
    problem = _diff(render(answers), project, "cookiecutter")
    assert problem is None, problem


def test_cruft_create_renders_copiers_project(
    render: Callable[..., Path], tree: Path, tmp_path: Path
) -> None:
    """`cruft create <repo> --checkout cookiecutter`, the branch the release publishes, on the
    defaults equals copier's render."""
    from cruft import create

    remote = tmp_path / "dsdeploy.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run([str(PUBLISH), str(tree), "v9.9.9", str(remote)], check=True, capture_output=True)
    project = create(str(remote), output_dir=tmp_path / "out", checkout="cookiecutter", no_input=True)
    assert (project / ".cruft.json").is_file()
    problem = _diff(render(), project, "cruft")
    assert problem is None, problem


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_pre_gen_hook_refuses_what_copier_refuses(
    name: str,
    value: str,
    message: str,
    tree: Path,
    cc_config: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    render: Callable[..., Path],
) -> None:
    """The hook's sentence is copier's, and cookiecutter leaves no folder behind."""
    answers = {name: value, **({"registry": "other"} if name.startswith("registry_") else {})}
    if name == "aws_account_id":
        answers["registry"] = "ecr"
    with pytest.raises(GeneratorError, match="invalid answer") as copier_error:
        render(answers)
    out = tmp_path / "out"
    with pytest.raises(FailedHookException):
        _cookiecutter(tree, cc_config, answers, out)
    stderr = capfd.readouterr().err
    assert message in copier_error.value.message
    assert f"Validation error for question '{name}': {message}" in stderr
    assert not out.exists() or not any(out.iterdir()), "cookiecutter left files behind"


def test_pre_gen_hook_refuses_jinja_in_an_answer(
    render: Callable[..., Path],
    tree: Path,
    cc_config: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Cookiecutter renders a given answer as Jinja where copier keeps it: refused, not rendered."""
    answers = {"description": "costs {{ 7 * 7 }} cents"}
    assert "costs {{ 7 * 7 }} cents" in (render(answers) / "README.md").read_text()
    with pytest.raises(FailedHookException):
        _cookiecutter(tree, cc_config, answers, tmp_path / "out")
    assert (
        "Validation error for question 'description': description must not hold Jinja"
        in capfd.readouterr().err
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
