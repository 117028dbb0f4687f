"""The fleet verb: many projects' template release, answers, lag and updates."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
import typer.core
from rich.table import Table

from generator.cli._app import (
    app,
    stderr,
    stdout,
)
from generator.console import progress

if TYPE_CHECKING:
    from generator.project.fleet import ProjectState, UpdateResult


@app.command()
def fleet(
    paths: Annotated[
        list[Path], typer.Argument(help="Project checkouts, or folders holding several.", exists=True)
    ],
    update: Annotated[
        bool, typer.Option("--update", help="copier update each clean project to the newest release.")
    ] = False,
    trust: Annotated[
        bool, typer.Option("--trust", help="Let updates run the template's migrations (see CHANGELOG).")
    ] = False,
    output_format: Annotated[
        Literal["table", "json"], typer.Option("--format", help="table, or json for dashboards.")
    ] = "table",
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            help="The template every project must come from (_src_path); default: what `new` records.",
        ),
    ] = None,
) -> None:
    """Template release, key answers, releases behind and local changes of many projects."""
    from generator.project import fleet as fleet_lib

    with progress(stderr, "Reading projects") as tracker:
        states = fleet_lib.inspect_fleet(
            paths, template=template, on_done=lambda s: tracker.advance(s.project)
        )
    results = None
    if update:
        with progress(stderr, "Updating projects one by one", total=len(states)) as tracker:
            results = fleet_lib.update_fleet(
                states,
                trust=trust,
                on_done=lambda r: tracker.advance(f"{r.state.project}: {r.outcome.value}"),
            )
    if output_format == "json":
        rows = [r.as_json() for r in results] if results is not None else [s.as_json() for s in states]
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
    else:
        stdout.print(_fleet_table(states, results))
    if results is not None and any(r.outcome is fleet_lib.Outcome.FAILED for r in results):
        raise typer.Exit(1)


def _fleet_table(states: list[ProjectState], results: list[UpdateResult] | None) -> Table:
    table = Table(title=f"{len(states)} project(s)", title_justify="left")
    for column in ("project", "release", "newest", "behind"):
        table.add_column(column, no_wrap=True)
    for column in ("path", "answers", "local changes"):
        table.add_column(column, overflow="fold")
    if results is not None:
        table.add_column("update", overflow="fold")
    shown = [r.state for r in results] if results is not None else states
    for index, state in enumerate(shown):
        answers = " ".join(_answer_label(k, v) for k, v in state.answers.items())
        behind = "?" if state.behind is None else str(state.behind)
        changes = "not git" if state.local_changes is None else str(state.local_changes)
        row = [state.project, state.version or "?", state.newest or "?", behind]
        row += [os.path.relpath(state.path), answers, changes]
        if results is not None:
            result = results[index]
            style = {"updated": "green", "conflicted": "bold red", "failed": "bold red"}.get(
                result.outcome.value
            )
            outcome = f"[{style}]{result.outcome.value}[/]" if style else result.outcome.value
            files = f" ({', '.join(result.files)})" if result.files else ""
            row.append(f"{outcome}: {result.detail}{files}")
        table.add_row(*row)
    return table


def _answer_label(name: str, value: Any) -> str:
    """An answer as the variant ids write it: py3.12, kubeflow / no-kubeflow, or the value."""
    if isinstance(value, bool):
        return name.removeprefix("with_") if value else f"no-{name.removeprefix('with_')}"
    return f"py{value}" if name == "python_version" else str(value)
