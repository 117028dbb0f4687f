"""The `dsdeploy` command line: a thin adapter from flags to the library.

This is the only module that prints. Data goes to stdout alone; progress, notes and errors go to
stderr (see :mod:`generator.console`). Library errors arrive as :class:`GeneratorError` and are
turned into a red line, a ``fix:`` line and exit code 2 in one place: :class:`_Handled`.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from generator import answers as answers_lib
from generator import doctor as doctor_lib
from generator.console import fit_columns, progress, stderr_console
from generator.errors import GeneratorError
from generator.project import variants as variants_lib
from generator.project.render import (
    check_destination,
    lock_project,
    read_answers,
    render_many,
    render_project,
)
from generator.project.source import resolve_source
from generator.results import Status

if TYPE_CHECKING:
    from generator.project.fleet import ProjectState, UpdateResult

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
) -> None:
    """Create a model project (asks the questions unless --defaults)."""
    # Everything that can be refused is refused before a question is asked or a file written.
    answers = answers_lib.collect(data or (), data_file, questions=variants_lib.load_questions())
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
    stdout.print(f"Next: cd {os.path.relpath(project)} && make test serve", soft_wrap=True)


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


@app.command()
def check(
    project: ProjectArgument,
    security: Annotated[
        bool, typer.Option("--security/--no-security", help="Also run checkov and hadolint.")
    ] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show details of passed rows too.")
    ] = False,
) -> None:
    """Static checks: helm lint, Kubernetes schemas, values schema, security scan, Dockerfile lint."""
    from generator.chart.manifests import check_project

    with progress(stderr, f"Checking {project}", total=3 if security else 1) as tracker:
        rows = check_project(project, security=security, on_progress=tracker.advance)
    style = {Status.PASSED: "green", Status.FAILED: "bold red", Status.SKIPPED: "yellow"}
    for name, group in itertools.groupby(rows, key=lambda r: r.check):
        table = Table(title=name, title_justify="left")
        table.add_column("subject", no_wrap=True)
        table.add_column("result")
        table.add_column("first error / detail", overflow="fold")
        for row in group:
            detail = row.detail if (verbose or not row.passed) else ""
            table.add_row(row.subject, f"[{style[row.status]}]{row.status.value}[/]", detail)
        stdout.print(table)
    failed = sum(row.status is Status.FAILED for row in rows)
    skipped = sum(row.status is Status.SKIPPED for row in rows)
    stdout.print(f"{len(rows) - failed - skipped} passed, {failed} failed, {skipped} skipped")
    if failed:
        raise typer.Exit(1)


@app.command("base-image")
def base_image(
    python: Annotated[str, typer.Option("--python", help="Python version the base must carry.")] = "3.12",
    suite: Annotated[
        str | None, typer.Option("--suite", help="Debian suite to bootstrap (default: the one for --python).")
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Image tag (default: dsdeploy-base:<python>).")
    ] = None,
    mirror: Annotated[
        str | None, typer.Option("--mirror", help="Debian mirror URI (default: apt's).")
    ] = None,
) -> None:
    """Build a Python base image from Debian packages, for air-gapped or mirror-only sites."""
    from generator.image import base_image as bases

    recipe = bases.recipe_for(python)
    # A suite of the user's choice carries its own python3; the recipe's may add an interpreter.
    python_home = recipe.python_home if suite is None else None
    tag = tag or bases.local_base_tag(recipe.python_version)
    with progress(stderr, f"Building {tag}") as tracker:
        image_id = bases.build_base_image(
            suite or recipe.suite, tag, mirror=mirror, python_home=python_home, progress=tracker.step
        )
    stdout.print(f"built {tag} ({image_id[:19]}); use: dsdeploy build PROJECT --base-image {tag}")


@app.command()
def build(
    project: ProjectArgument,
    tag: Annotated[str | None, typer.Option("--tag", help="Image tag (default: <slug>:dev).")] = None,
    base: Annotated[
        str | None,
        typer.Option("--base-image", help="Debian-based Python base (default: official, else local)."),
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option("--ca-bundle", exists=True, dir_okay=False, help="CA bundle of a TLS-inspecting proxy."),
    ] = None,
) -> None:
    """Build a rendered project's image with BuildKit (the CA bundle goes in as a build secret)."""
    from generator.image.build import build_image

    tag = tag or f"{read_answers(project)['project_slug']}:dev"
    with progress(stderr, f"Building {tag}") as tracker:
        result = build_image(project, tag, base, ca_bundle, progress=tracker.step)
    cached = sum(step.cached for step in result.steps)
    steps = f"{cached}/{len(result.steps)} steps cached"
    stdout.print(f"built {result.tag} on {result.base_image} in {result.seconds:.1f} s ({steps})")


@app.command()
def smoke(
    image: Annotated[str, typer.Argument(help="Local image repository:tag.")],
    model_name: Annotated[
        str | None, typer.Option("--model-name", help="Default: the image's MODEL_NAME.")
    ] = None,
    grace: Annotated[float, typer.Option("--grace", help="Seconds allowed between SIGTERM and exit.")] = 10.0,
) -> None:
    """Run IMAGE as the chart would, call every route, send bad requests, stop it with SIGTERM."""
    from generator.containers.smoke import smoke_image

    with progress(stderr, f"Smoke-testing {image}") as tracker:
        report = smoke_image(image, model_name=model_name, grace=grace, progress=tracker.note)
    stdout.print(report.summary())
    if not report.ok:
        stderr.print(report.logs, markup=False, highlight=False)
        raise typer.Exit(1)


@app.command()
def deploy(
    project: ProjectArgument,
    kind: Annotated[bool, typer.Option("--kind", help="Deploy to a local kind cluster.")] = False,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="kind cluster name (default: the slug).")
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the release (and a cluster this run made).")
    ] = False,
    image: Annotated[
        str | None, typer.Option("--image", help="A local image instead of building one.")
    ] = None,
    values: Annotated[
        list[Path] | None,
        typer.Option("--values", "-f", exists=True, dir_okay=False, help="Extra values file."),
    ] = None,
) -> None:
    """Deploy to kind: build, load, helm install --wait, rollout, helm test, infer, clean up."""
    from generator.cluster.deploy import deploy_to_kind

    if not kind:
        raise GeneratorError("no deploy target given", hint="pass --kind")
    with progress(stderr, f"Deploying {project} to kind") as tracker:
        report = deploy_to_kind(
            project, cluster=cluster, keep=keep, image=image, values=values or (), progress=tracker.note
        )
    for name, seconds in report.steps:
        stdout.print(f"{name}: {seconds:.1f} s")
    stdout.print(report.summary())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def podspec(
    project: ProjectArgument,
    image: Annotated[str, typer.Option("--image", help="Local image repository:tag (see dsdeploy build).")],
    values_set: Annotated[
        str, typer.Option("--values-set", help="A chart ci/<name>-values.yaml set.")
    ] = "default",
    without_devices: Annotated[
        bool, typer.Option("--without-devices", help="Run without the GPUs the values request.")
    ] = False,
) -> None:
    """Run the chart's Deployment with Docker exactly as written; probe it and call infer."""
    from generator.containers.podspec import podspec_smoke

    with progress(stderr, f"Running the pod spec of {project} on Docker") as tracker:
        report = podspec_smoke(
            project, image, values_set, without_devices=without_devices, progress=tracker.note
        )
    for note in report.notes:
        stderr.print(f"[yellow]note:[/] {note}")
    stdout.print(report.summary())
    if not report.ok:
        stdout.print(report.docker_command, markup=False)
        raise typer.Exit(1)


@app.command()
def doctor() -> None:
    """Show which tools and engines are present, and so which test tiers can run."""
    findings = doctor_lib.collect()
    table = Table("what", "present", "detail", title="dsdeploy doctor")
    for finding in findings:
        table.add_row(finding.name, "[green]yes[/]" if finding.present else "[red]no[/]", finding.detail)
    stdout.print(table)
    tiers = Table("tier", "status", title="test tiers")
    for tier, status in doctor_lib.tiers(findings).items():
        tiers.add_row(tier, status)
    stdout.print(tiers)


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
) -> None:
    """Template release, key answers, releases behind and local changes of many projects."""
    from generator.project import fleet as fleet_lib

    with progress(stderr, "Reading projects") as tracker:
        states = fleet_lib.inspect_fleet(paths, on_done=lambda s: tracker.advance(s.project))
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
