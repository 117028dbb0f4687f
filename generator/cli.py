"""The `dsdeploy` command line: a thin adapter from flags to the library.

This is the only module that prints. Library errors arrive as :class:`GeneratorError` and leave
as one red line on stderr with exit code 2.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from generator import doctor as doctor_lib
from generator.errors import GeneratorError
from generator.project import variants as variants_lib
from generator.project.render import lock_project, read_answers, render_many, render_project
from generator.project.source import resolve_source
from generator.results import Status

if TYPE_CHECKING:
    from generator.project.fleet import ProjectState, UpdateResult

app = typer.Typer(
    name="dsdeploy",
    help="Render, check, build and deploy every variant of the dsdeploy model-project template.",
    no_args_is_help=True,
    add_completion=False,
)
stdout = Console()
stderr = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

USER_ERROR = 2

DataOption = Annotated[
    list[str] | None,
    typer.Option("--data", "-d", help="An answer as NAME=VALUE; repeat for more.", metavar="NAME=VALUE"),
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


def _user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn GeneratorError into a red line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except GeneratorError as exc:
            stderr.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
            if exc.hint:
                stderr.print(f"[yellow]fix:[/] {exc.hint}", highlight=False, soft_wrap=True)
            raise typer.Exit(USER_ERROR) from exc

    return wrapper


def _progress(line: str) -> None:
    stderr.print(line, markup=False, highlight=False)


def _parse_data(pairs: list[str] | None) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise GeneratorError(
                f"--data {pair!r} is not NAME=VALUE", hint="write it like --data project_name='My Model'"
            )
        answers[name.strip()] = value
    known = variants_lib.load_questions()
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise GeneratorError(
            f"unknown question(s): {', '.join(unknown)}", hint=f"questions are: {', '.join(sorted(known))}"
        )
    return answers


@app.command()
@_user_errors
def new(
    dest: Annotated[Path, typer.Argument(help="Folder to create the project in (absent or empty).")],
    data: DataOption = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Take defaults for unanswered questions.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Render into a non-empty folder.")] = False,
    lock: Annotated[bool, typer.Option(help="Run `uv lock` in the new project when uv is present.")] = True,
    template: TemplateOption = None,
) -> None:
    """Create a model project (asks the questions unless --defaults)."""
    answers = _parse_data(data)
    if not defaults and not sys.stdin.isatty():
        raise GeneratorError(
            "no terminal to ask questions on",
            hint=f"run `dsdeploy new {dest} --defaults` (answers with --data NAME=VALUE)",
        )
    source = resolve_source(template)
    with stderr.status(f"Rendering {dest} ..."):
        project = render_project(
            dest,
            answers,
            template=source.render_from,
            overwrite=overwrite,
            ask=not defaults,
            record_as=source.record_as,
        )
    stderr.print(f"[green]Rendered[/] {project}")
    stderr.print(
        f"Template source: {source.record_as} (`_src_path` in .copier-answers.yml; `make update` reads it)"
    )
    for note in source.notes:
        stderr.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    if lock:
        with stderr.status("Locking dependencies with uv ..."):
            locked = lock_project(project)
        stderr.print(
            "[green]Locked[/] uv.lock" if locked else "[yellow]uv not found: run `make lock` later[/]"
        )
    stdout.print(f"Next: cd {os.path.relpath(project)} && make test serve")


@app.command()
@_user_errors
def variants(
    output_format: Annotated[
        Literal["table", "json", "github"],
        typer.Option("--format", help="table, json, or a GitHub matrix object."),
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
    else:
        axes = variants_lib.load_axes()
        table = Table("id", *(axis.name for axis in axes), title=f"{len(items)} variants")
        for item in items:
            table.add_row(item.id, *(str(value) for _, value in item.answers))
        stdout.print(table)


@app.command()
@_user_errors
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
                f"unknown variant id(s): {', '.join(missing)}", hint="see `dsdeploy variants`"
            )
        items = {vid: items[vid] for vid in only}
    how = f"copier in {jobs} job(s)" if per_variant else "by dependency"
    with stderr.status(f"Rendering {len(items)} variants {how} ...") as status:
        done = render_many(
            outdir,
            items,
            jobs=jobs,
            on_done=lambda r: status.update(f"Rendered {r.variant_id} ({r.seconds:.2f} s)"),
            by_dependency=not per_variant,
        )
    stdout.print(json.dumps({"rendered": len(done), "outdir": str(outdir)}))


@app.command()
@_user_errors
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

    with stderr.status(f"Checking {project} ..."):
        rows = check_project(project, security=security)
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
@_user_errors
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
    image_id = bases.build_base_image(
        suite or recipe.suite, tag, mirror=mirror, python_home=python_home, progress=_progress
    )
    stdout.print(f"built {tag} ({image_id[:19]}); use: dsdeploy build PROJECT --base-image {tag}")


@app.command()
@_user_errors
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
    result = build_image(project, tag, base, ca_bundle, progress=_progress)
    cached = sum(step.cached for step in result.steps)
    steps = f"{cached}/{len(result.steps)} steps cached"
    stdout.print(f"built {result.tag} on {result.base_image} in {result.seconds:.1f} s ({steps})")


@app.command()
@_user_errors
def smoke(
    image: Annotated[str, typer.Argument(help="Local image repository:tag.")],
    model_name: Annotated[
        str | None, typer.Option("--model-name", help="Default: the image's MODEL_NAME.")
    ] = None,
    grace: Annotated[float, typer.Option("--grace", help="Seconds allowed between SIGTERM and exit.")] = 10.0,
) -> None:
    """Run IMAGE as the chart would, call every route, send bad requests, stop it with SIGTERM."""
    from generator.containers.smoke import smoke_image

    report = smoke_image(image, model_name=model_name, grace=grace, progress=_progress)
    stdout.print(report.summary())
    if not report.ok:
        stderr.print(report.logs, markup=False, highlight=False)
        raise typer.Exit(1)


@app.command()
@_user_errors
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
    report = deploy_to_kind(
        project, cluster=cluster, keep=keep, image=image, values=values or (), progress=_progress
    )
    for name, seconds in report.steps:
        stdout.print(f"{name}: {seconds:.1f} s")
    stdout.print(report.summary())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@_user_errors
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

    report = podspec_smoke(project, image, values_set, without_devices=without_devices, progress=_progress)
    for note in report.notes:
        stderr.print(f"[yellow]note:[/] {note}")
    stdout.print(report.summary())
    if not report.ok:
        stdout.print(report.docker_command, markup=False)
        raise typer.Exit(1)


@app.command()
@_user_errors
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
@_user_errors
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

    with stderr.status("Reading projects ..."):
        states = fleet_lib.inspect_fleet(paths)
    results = None
    if update:
        with stderr.status(f"Updating {len(states)} project(s) one by one ...") as status:
            results = fleet_lib.update_fleet(
                states, trust=trust, on_done=lambda r: status.update(f"{r.state.project}: {r.outcome.value}")
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
