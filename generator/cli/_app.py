"""The Typer app, its one error handler, the two consoles and the options several verbs share."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from generator.console import stderr_console
from generator.errors import GeneratorError

if TYPE_CHECKING:
    pass

USER_ERROR = 2

stdout = Console()
stderr = stderr_console()


class _Handled(typer.core.TyperGroup):
    """The one exception handler: a GeneratorError from any command becomes a message and exit 2."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GeneratorError as exc:
            # Escaped: a message may quote text with brackets (a list, a prompt's [Y/n]).
            stderr.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
            if exc.hint:
                stderr.print(f"[yellow]fix:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
            raise typer.Exit(USER_ERROR) from exc


app = typer.Typer(
    name="dsdeploy",
    cls=_Handled,
    help="Render, check, build and deploy every variant of the dsdeploy model-project template.",
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"dsdeploy {importlib.metadata.version('dsdeploy')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Render, check, build and deploy every variant of the dsdeploy model-project template."""


DataOption = Annotated[
    list[str] | None,
    typer.Option("--data", "-d", help="An answer as NAME=VALUE; repeat for more.", metavar="NAME=VALUE"),
]
DataFileOption = Annotated[
    Path | None,
    typer.Option(
        "--data-file",
        exists=True,
        dir_okay=False,
        help="A YAML file of answers (name: value); --data wins over it.",
    ),
]
TemplateOption = Annotated[
    str | None,
    typer.Option(
        "--template",
        help="Template path or git URL (default: $DSDEPLOY_TEMPLATE_URL, this checkout, the bundled copy).",
    ),
]
ProjectArgument = Annotated[Path, typer.Argument(help="A rendered project.", exists=True, file_okay=False)]
PairwiseOption = Annotated[
    bool, typer.Option("--pairwise", help="A pairwise cover of the axes instead of the full product.")
]
