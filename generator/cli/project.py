"""The project verbs: new, variants and render."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
import typer.core
from rich.table import Table

from generator import answers as answers_lib
from generator.cli._app import (
    DataFileOption,
    DataOption,
    PairwiseOption,
    TemplateOption,
    app,
    stderr,
    stdout,
)
from generator.console import fit_columns, progress
from generator.errors import GeneratorError
from generator.project import variants as variants_lib
from generator.project.model_import import check_model_answers, import_into
from generator.project.render import (
    check_destination,
    lock_project,
    render_many,
    render_project,
)
from generator.project.source import resolve_source

if TYPE_CHECKING:
    pass


def _summary(dest: Path, answers: dict[str, Any], template: str) -> Table:
    table = Table(title="About to create", title_justify="left", show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("destination", str(dest.resolve()))
    table.add_row("template", template)
    for name, value in answers.items():
        table.add_row(name, str(value).lower() if isinstance(value, bool) else str(value))
    return table


@app.command()
def new(
    dest: Annotated[Path, typer.Argument(help="Folder to create the project in (absent or empty).")],
    data: DataOption = None,
    data_file: DataFileOption = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Take defaults for unanswered questions; no summary.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Render into a non-empty folder.")] = False,
    lock: Annotated[bool, typer.Option(help="Run `uv lock` in the new project when uv is present.")] = True,
    template: TemplateOption = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Start from your own trained model: the project imports it (`make import-model`) "
            "and its image ships it (model_source=imported).",
        ),
    ] = None,
    example: Annotated[
        Path | None,
        typer.Option(help="A few real rows for --model (.csv, .parquet or .json): its example request."),
    ] = None,
    profile_data: Annotated[
        Path | None,
        typer.Option(
            help="Rows like the training data of --model (.csv or .parquet): the reference its "
            "drift is measured against (profile.json).",
        ),
    ] = None,
) -> None:
    """Create a model project (asks the questions unless --defaults)."""
    # Everything that can be refused is refused before a question is asked or a file written.
    answers = answers_lib.collect(data or (), data_file, questions=variants_lib.load_questions())
    answers = check_model_answers(answers, model, example, profile_data)
    if not defaults and not sys.stdin.isatty():
        raise GeneratorError(
            "no terminal to ask questions on",
            hint=f"run `dsdeploy new {dest} --defaults` (answers with --data NAME=VALUE)",
        )
    check_destination(dest, overwrite=overwrite)
    source = resolve_source(template)
    if not defaults:
        # Copier's prompts own the terminal until the last answer: nothing is drawn over them.
        answers = answers_lib.ask(source.render_from, answers)
        stderr.print(_summary(dest, answers, source.record_as))
        if not typer.confirm("Create the project?", default=True, err=True):
            raise typer.Exit(1)
    with progress(stderr, f"Rendering {dest}"):
        project = render_project(
            dest, answers, template=source.render_from, overwrite=overwrite, record_as=source.record_as
        )
    stderr.print(f"[green]Rendered[/] {project}")
    stderr.print(
        f"Template source: {source.record_as} (`_src_path` in .copier-answers.yml; `make update` reads it)"
    )
    for note in source.notes:
        stderr.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    if lock:
        with progress(stderr, "Locking dependencies with uv"):
            locked = lock_project(project)
        stderr.print(
            "[green]Locked[/] uv.lock" if locked else "[yellow]uv not found: run `make lock` later[/]"
        )
    if model is not None:
        with progress(stderr, f"Importing {model} (make import-model)"):
            import_into(project, model, example, profile_data)
        stderr.print(f"[green]Imported[/] {model} into {project / 'imported'} (the image ships it)")
    serve = "make test serve MODEL_DIR=imported" if model is not None else "make test serve"
    stdout.print(f"Next: cd {os.path.relpath(project)} && {serve}", soft_wrap=True)


@app.command()
def variants(
    output_format: Annotated[
        Literal["table", "ids", "json", "github"],
        typer.Option(
            "--format", help="table (fits the terminal), ids (one a line), json, or a GitHub matrix."
        ),
    ] = "table",
    pairwise: PairwiseOption = False,
) -> None:
    """List the variant matrix read from copier.yml."""
    items = variants_lib.variants("pairwise" if pairwise else "full")
    if output_format == "json":
        stdout.print_json(variants_lib.to_json(items))
    elif output_format == "github":
        # Plain write: a GitHub step captures it into $GITHUB_OUTPUT verbatim.
        sys.stdout.write(variants_lib.to_github_matrix(items) + "\n")
    elif output_format == "ids":
        sys.stdout.write("".join(f"{item.id}\n" for item in items))
    else:
        stdout.print(_variants_table(items, stdout.width), crop=False)


def _variants_table(items: list[variants_lib.Variant], width: int) -> Table | str:
    """The matrix as a table of whole ids, with as many answer columns as the width allows."""
    axes = [axis.name for axis in variants_lib.load_axes()]
    id_width = max((len(item.id) for item in items), default=2)
    widths = [
        max(len(name), *(len(str(v)) for _, v in (item.answers[i] for item in items)))
        for i, name in enumerate(axes)
    ]
    shown = fit_columns(id_width, widths, width)
    if shown is None:  # not even the ids fit a table: one a line, never cut
        return "\n".join(item.id for item in items)
    table = Table(title=f"{len(items)} variants", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=id_width)
    for name in axes[:shown]:
        table.add_column(name, no_wrap=True)
    for item in items:
        table.add_row(item.id, *(str(value) for _, value in item.answers[:shown]))
    return table


@app.command()
def render(
    outdir: Annotated[Path, typer.Argument(help="Folder to render each variant into, as OUTDIR/<id>.")],
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Parallel render processes (with --copier).")
    ] = os.cpu_count() or 1,
    pairwise: PairwiseOption = False,
    only: Annotated[list[str] | None, typer.Option("--only", help="Render just these variant ids.")] = None,
    per_variant: Annotated[
        bool,
        typer.Option(
            "--copier",
            help="Run copier once per variant instead of rendering each file once per distinct answers.",
        ),
    ] = False,
) -> None:
    """Render every variant of the matrix (by dependency: equal to copier's render, much faster)."""
    items = {v.id: v.as_dict() for v in variants_lib.variants("pairwise" if pairwise else "full")}
    if only:
        missing = sorted(set(only) - set(items))
        if missing:
            raise GeneratorError(
                f"unknown variant id(s): {', '.join(missing)}", hint="see `dsdeploy variants --format ids`"
            )
        items = {vid: items[vid] for vid in only}
    how = f"copier in {jobs} job(s)" if per_variant else "by dependency"
    with progress(stderr, f"Rendering {len(items)} variants {how}", total=len(items)) as tracker:
        done = render_many(
            outdir,
            items,
            jobs=jobs,
            on_done=lambda r: tracker.advance(r.variant_id),
            by_dependency=not per_variant,
        )
    # One plain line: rich would wrap it at the terminal's width.
    sys.stdout.write(json.dumps({"rendered": len(done), "outdir": str(outdir)}) + "\n")


@app.command("cookiecutter-tree")
def cookiecutter_tree(
    out: Annotated[Path, typer.Argument(help="Folder to write it to: new, empty, or an earlier tree.")],
) -> None:
    """Write the cookiecutter/cruft tree made from template/ and copier.yml (the release publishes it)."""
    from generator.project import cookiecutter_tree as tree_lib

    files = tree_lib.build()
    tree_lib.write(files, out)
    stderr.print(f"wrote {len(files)} files to {out}", highlight=False)
