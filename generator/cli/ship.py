"""The verbs that ship a project: check, base-image, build, smoke, podspec, deploy, doctor."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

import typer
import typer.core
from rich.table import Table

from generator import doctor as doctor_lib
from generator.cli._app import (
    ProjectArgument,
    app,
    stderr,
    stdout,
)
from generator.console import progress
from generator.engine.client import Engine
from generator.errors import GeneratorError
from generator.project.render import (
    read_answers,
)
from generator.results import Status

EngineOption = Annotated[
    Engine,
    typer.Option("--engine", help="Container engine that builds or runs the image: docker or podman."),
]


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
    engine: EngineOption = "docker",
) -> None:
    """Build a rendered project's image with BuildKit or Podman (the CA bundle goes in as a build secret)."""
    from generator.image.build import build_image

    tag = tag or f"{read_answers(project)['project_slug']}:dev"
    with progress(stderr, f"Building {tag} with {engine}") as tracker:
        result = build_image(project, tag, base, ca_bundle, progress=tracker.step, engine=engine)
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
    engine: EngineOption = "docker",
) -> None:
    """Run IMAGE as the chart would, call every route, send bad requests, stop it with SIGTERM."""
    from generator.containers.smoke import smoke_image

    with progress(stderr, f"Smoke-testing {image}") as tracker:
        report = smoke_image(image, model_name=model_name, grace=grace, progress=tracker.note, engine=engine)
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
    from generator.containers.podspec.smoke import podspec_smoke

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
