"""The installed CLI in a real 80-column terminal (tmux): what a person sees, key by key."""

from __future__ import annotations

import importlib.metadata
import json
import re

import yaml

from generator.project.variants import variants

# Any braille-pattern character: rich's spinner frames (⠋⠙⠹...) are drawn from that block.
SPINNER = re.compile("[\u2800-\u28ff]")
PROMPT = "🎤"


def _prompts(text: str) -> int:
    return sum(PROMPT in line for line in text.splitlines())


def _answer(term, number: int, *keys: str, text: str | None = None) -> None:
    """Wait for question ``number`` (1-based) to be asked, then answer it."""
    term.wait_for(lambda screen: _prompts(screen) >= number, timeout=60)
    if text is not None:
        term.send("C-u")  # the default is pre-filled: clear it first
        term.type(text)
    term.send(*keys)


def test_interactive_new_asks_everything_before_any_progress(terminal, tmp_path):
    term = terminal(height=50)
    term.run("dsdeploy new churn --no-lock")
    # One action per question, in copier.yml order (registry ghcr asks for a namespace only).
    answers = [
        ("Enter",),  # project_name (typed below)
        ("Enter",),  # project_slug: derived from the name
        ("Enter",),  # package_name
        ("Enter",),  # description
        ("Enter",),  # author_name
        ("Enter",),  # author_email
        ("Down", "Enter"),  # license: the second choice
        ("Enter",),  # python_version
        ("Down", "Enter"),  # model_framework: XGBoost
        ("Enter",),  # model_source: train
        ("Enter",),  # registry: ghcr
        ("Enter",),  # registry_namespace (typed below)
        ("Enter",),  # ci_provider
        ("n",),  # with_kubeflow: a confirm answers on the key
        ("y",),  # with_dask
    ]
    typed = {1: "Churn Model", 12: "data-team"}
    for number, keys in enumerate(answers, start=1):
        _answer(term, number, *keys, text=typed.get(number))

    before_confirm = term.wait_for("Create the project?", timeout=60)
    assert _prompts(before_confirm) == len(answers)
    spinner_lines = [line for line in before_confirm.splitlines() if SPINNER.search(line)]
    assert spinner_lines == [], "a spinner was drawn before the last answer"
    assert "destination" in before_confirm
    # The summary folds a long path: compare without the fold's line breaks and indents.
    assert str(tmp_path / "churn") in "".join(before_confirm.split())

    term.send("Enter")
    done = term.wait_for("Next: cd churn", timeout=120)
    prompt_lines = [line for line in done.splitlines() if PROMPT in line]
    assert not any(SPINNER.search(line) for line in prompt_lines), prompt_lines
    recorded = yaml.safe_load((tmp_path / "churn" / ".copier-answers.yml").read_text())
    assert {k: recorded[k] for k in ("project_name", "project_slug", "license", "model_framework")} == {
        "project_name": "Churn Model",
        "project_slug": "churn-model",
        "license": "Apache-2.0",
        "model_framework": "xgboost",
    }
    assert (recorded["registry_namespace"], recorded["with_kubeflow"], recorded["with_dask"]) == (
        "data-team",
        False,
        True,
    )


def test_variants_table_shows_whole_ids_at_80_columns(terminal):
    term = terminal(width=80, height=60)
    term.run("dsdeploy variants --pairwise; echo exit=$?")
    screen = term.wait_for("exit=0")
    lines = screen.splitlines()
    assert "…" not in screen
    for item in variants("pairwise"):
        assert any(re.search(rf"(^|[\s│]){re.escape(item.id)}([\s│]|$)", line) for line in lines), item.id


def test_render_shows_progress_then_one_json_line(terminal, tmp_path):
    term = terminal()
    term.run("dsdeploy render out --pairwise > rendered.json; echo exit=$?")
    screen = term.wait_for("exit=0", timeout=300)
    total = len(variants("pairwise"))
    # A live bar, redrawn in place: one line with the count, elapsed time and a finished tick.
    bar = [line for line in screen.splitlines() if f"Rendering {total} variants" in line]
    assert len(bar) == 1, screen
    assert f"{total}/{total}" in bar[0], bar[0]
    assert re.search(r"\d:\d\d:\d\d", bar[0]), bar[0]
    assert "✓" in bar[0]
    stdout = (tmp_path / "rendered.json").read_text().splitlines()
    assert len(stdout) == 1
    assert json.loads(stdout[0]) == {"rendered": total, "outdir": "out"}


def test_version_prints_the_installed_version(terminal):
    term = terminal()
    term.run("dsdeploy --version; echo exit=$?")
    screen = term.wait_for(lambda text: re.search(r"exit=\d", text) is not None)
    assert f"dsdeploy {importlib.metadata.version('dsdeploy')}" in screen
    assert "exit=0" in screen


def test_bash_completion_completes_a_verb(terminal):
    term = terminal()
    term.run('eval "$(dsdeploy --show-completion bash)"; echo exit=$?')
    term.wait_for("exit=0")
    term.type("dsdeploy vari")
    term.send("Tab")
    term.wait_for(lambda screen: "dsdeploy variants" in screen, timeout=30)
