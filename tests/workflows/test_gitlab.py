"""The GitLab pipeline, read as data: stages, rules, image name, logins, tags, signing."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from generator.project.variants import load_axes
from generator.tools import find_python

EXPECTED_HOST = {
    "ghcr": "ghcr.io",
    "dockerhub": "docker.io",
    "ecr": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "gar": "us-central1-docker.pkg.dev",
    "acr": "mymodelsregistry.azurecr.io",
    "gitlab": "registry.gitlab.com",
    "other": "registry.example.com",
}
# The CI/CD variables each registry's `docker login` reads: (user, password).
LOGIN_VARIABLES = {
    "ghcr": ("$GHCR_USERNAME", "$GHCR_TOKEN"),
    "dockerhub": ("$DOCKERHUB_USERNAME", "$DOCKERHUB_TOKEN"),
    "ecr": ("AWS", None),
    "gar": ("oauth2accesstoken", None),
    "acr": ("$ACR_USERNAME", "$ACR_PASSWORD"),
    "gitlab": ("$CI_REGISTRY_USER", "$CI_REGISTRY_PASSWORD"),
    "other": ("$REGISTRY_USERNAME", "$REGISTRY_PASSWORD"),
}


def _pipeline(project_for, registry: str = "ghcr"):
    return project_for(registry=registry, ci_provider="gitlab").gitlab_ci()


def _commands(entry: str) -> list[list[str]]:
    """The simple commands of a shell script entry, split at pipes, `;`, `&&`, `||` and `$( )`."""
    lexer = shlex.shlex(entry, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"|", ";", "&&", "||", "(", ")", "$("} or token.endswith(("$(", "=$(")):
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def _logins(job: dict, script: list[str] | None = None) -> list[list[str]]:
    """The login commands of a job's script, as argument lists, with the job's LOGIN put in."""
    login = shlex.split(job["variables"]["LOGIN"])
    commands = [command for entry in script or job["script"] for command in _commands(entry)]
    return [[*login, *command[1:]] for command in commands if command[:1] == ["$LOGIN"]]


def test_stages_and_jobs(project_for):
    pipeline = _pipeline(project_for)
    assert pipeline["stages"] == ["test", "build", "push"]
    jobs = {name: job for name, job in pipeline.items() if isinstance(job, dict) and "stage" in job}
    assert {name: job["stage"] for name, job in jobs.items()} == {
        "test": "test",
        "chart": "test",
        "chart-package": "push",
        "image-smoke": "build",
        "push": "push",
    }


def test_only_the_default_branch_and_version_tags_push(project_for):
    push = _pipeline(project_for)["push"]
    assert push["rules"] == [
        {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"},
        {"if": "$CI_COMMIT_TAG =~ /^v[0-9]/"},
    ]


def test_tests_run_on_the_projects_python_with_the_lock(project_for):
    for python in next(axis for axis in load_axes() if axis.name == "python_version").values:
        job = project_for(ci_provider="gitlab", python_version=python).gitlab_ci()["test"]
        assert job["image"] == f"python:{python}-slim"
        assert job["script"] == [
            "uv sync --locked",
            "make lint",
            "make test",
            "make test-runtime",
            "make test-notebooks",
        ]
        # pre-commit's SKIP: the chart job runs that hook with a pinned Helm.
        assert job["variables"]["SKIP"] == "chart-lint"


def test_tests_refuse_a_job_image_without_the_projects_python(project_for, tmp_path):
    project = project_for(ci_provider="gitlab")
    [check] = [line for line in project.gitlab_ci()["test"]["before_script"] if "uv python find" in line]
    pinned = (project.project / ".python-version").read_text(encoding="utf-8").strip()
    python = find_python(pinned)
    if python is None:
        pytest.skip(f"no Python {pinned} on this machine")
    # The job image's interpreter first on PATH, uv beside this one.
    path = os.pathsep.join([str(python.parent), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**os.environ, "PATH": path, "UV_PYTHON_DOWNLOADS": "never"}
    (tmp_path / ".python-version").write_text(f"{pinned}\n", encoding="utf-8")
    found = subprocess.run(["sh", "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    (tmp_path / ".python-version").write_text("3.99\n", encoding="utf-8")
    missing = subprocess.run(["sh", "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert missing.returncode == 1
    assert "lacks Python 3.99 (.python-version); set test's image to python:3.99-slim" in missing.stdout


def test_the_chart_is_checked_with_pinned_helm_through_make(project_for):
    job = project_for(ci_provider="gitlab").gitlab_ci()["chart"]
    assert job["stage"] == "test"
    name, _, tag = job["image"]["name"].partition("@")[0].partition(":")
    assert name == "alpine/helm"
    assert tag.count(".") == 2  # a release, never latest
    assert job["image"]["entrypoint"] == [""]
    assert job["script"] == ["make chart-lint UV=/opt/uv/bin/uv"]
    assert any('"uv==$UV_VERSION"' in line for line in job["before_script"])


def test_push_stamps_one_version_from_the_git_tag(project_for):
    push = _pipeline(project_for)["push"]
    assert push["variables"]["GIT_DEPTH"] == 0  # the tags setuptools-scm counts from
    script = "\n".join(push["script"])
    assert "package_version=$(make --silent version UV=/opt/uv/bin/uv)" in script
    assert '--build-arg IMAGE_VERSION="$package_version"' in script


def test_the_chart_is_packaged_with_the_tags_version_on_tags_only(project_for):
    job = _pipeline(project_for)["chart-package"]
    assert job["stage"] == "push"
    assert job["rules"] == [{"if": "$CI_COMMIT_TAG =~ /^v[0-9]/"}]
    assert (
        job["script"][0]
        == 'make chart-package CHART_VERSION="${CI_COMMIT_TAG#v}" APP_VERSION="${CI_COMMIT_TAG#v}"'
    )
    assert job["artifacts"] == {"paths": ["dist/"]}


def test_docker_in_docker_over_tls(project_for):
    docker = _pipeline(project_for)[".docker"]
    [service] = docker["services"]
    image, _, digest = docker["image"].partition("@")
    assert service == f"{image}-dind@{digest}"  # docker:X and docker:X-dind are one image
    assert docker["variables"]["DOCKER_HOST"] == "tcp://docker:2376"
    assert docker["variables"]["DOCKER_TLS_VERIFY"] == "1"
    assert _pipeline(project_for)["image-smoke"]["extends"] == ".docker"
    assert _pipeline(project_for)["push"]["extends"] == ".docker"


def test_the_image_is_named_by_the_registry(registry, project_for):
    variables = _pipeline(project_for, registry)["variables"]
    assert variables["REGISTRY"] == EXPECTED_HOST[registry]
    assert variables["IMAGE"].startswith(EXPECTED_HOST[registry] + "/")
    assert variables["IMAGE"].endswith("/my-model")
    github = project_for(registry=registry, ci_provider="github").workflow("publish.yml")
    assert variables["IMAGE"] == github["env"]["IMAGE"]


def test_login_reads_the_registrys_credentials(registry, project_for):
    push = _pipeline(project_for, registry)["push"]
    [login] = _logins(push)
    assert login[:3] == ["docker", "login", "$REGISTRY"]
    user, password = LOGIN_VARIABLES[registry]
    assert login[login.index("--username") + 1] == user
    assert "--password-stdin" in login
    if password is not None:
        entry = next(entry for entry in push["script"] if entry.startswith("echo") and "$LOGIN" in entry)
        assert _commands(entry)[0] == ["echo", password]


def test_cloud_registries_federate_with_the_jobs_id_token(registry, project_for):
    push = _pipeline(project_for, registry)["push"]
    tokens = push["id_tokens"]
    assert tokens["SIGSTORE_ID_TOKEN"] == {"aud": "sigstore"}
    if registry in {"ecr", "gar"}:
        assert tokens["CLOUD_ID_TOKEN"] == {"aud": "https://gitlab.com"}
    else:
        assert set(tokens) == {"SIGSTORE_ID_TOKEN"}
    installs = shlex.split(next(e for e in push["script"] if e.startswith("apk add")))
    packages = set(installs[3:])
    expected = {"jq", "make", "python3"} | {"ecr": {"aws-cli"}, "gar": {"curl"}}.get(registry, set())
    assert packages == expected
    if registry == "ecr":
        exports = next(e for e in push["script"] if e.startswith("export "))
        assert "AWS_WEB_IDENTITY_TOKEN_FILE=/tmp/web-identity-token" in shlex.split(exports)
        assert _pipeline(project_for, registry)["variables"]["AWS_REGION"] == "us-east-1"


def test_push_builds_with_attestations_and_registry_cache(project_for):
    push = _pipeline(project_for)["push"]
    build = next(e for e in push["script"] if e.startswith("docker buildx build"))
    words = shlex.split(build)
    assert {"--push", "--provenance=true", "--sbom=true"} <= set(words)
    assert words[words.index("--platform") + 1] == "$PLATFORMS"
    assert words[words.index("--cache-from") + 1] == "type=registry,ref=$IMAGE:buildcache"
    assert words[-1] == "."


def test_signing_is_keyless_by_digest_behind_a_toggle(project_for, tmp_path: Path):
    pipeline = _pipeline(project_for)
    assert pipeline["variables"]["SIGN_IMAGE"] == "true"
    sign = next(e for e in pipeline["push"]["script"] if "cosign sign" in e)
    # Run the step with a stand-in cosign that records its arguments.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cosign").write_text('#!/bin/sh\necho "$@" > "$RECORD"\n')
    (bin_dir / "cosign").chmod(0o755)
    (tmp_path / "build.json").write_text('{"containerimage.digest": "sha256:abc"}')
    record = tmp_path / "record"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RECORD": str(record), "IMAGE": "reg/x"}
    for toggle, expected in (("true", "sign --yes --recursive reg/x@sha256:abc\n"), ("false", None)):
        record.unlink(missing_ok=True)
        subprocess.run(["sh", "-e", "-c", sign], cwd=tmp_path, env={**env, "SIGN_IMAGE": toggle}, check=True)
        assert (record.read_text() if record.exists() else None) == expected


def test_smoke_test_runs_the_image_read_only_as_non_root(project_for):
    job = _pipeline(project_for)["image-smoke"]
    assert "rules" not in job  # every pipeline: merge requests, default branch, tags
    smoke = next(e for e in job["script"] if "docker run" in e)
    words = shlex.split(smoke.replace("\\\n", " "), comments=True)
    docker_run = words[words.index("run") - 1 : words.index("smoke:ci") + 1]
    assert {"--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "no-new-privileges"} <= set(docker_run)
    urls = {word for word in words if word.startswith("http://docker:8080/")}
    assert urls == {"http://docker:8080/v2/health/ready"}
    # Answers are checked inside the image by the project's smoke module (see the GitHub test).
    at = next(i for i, word in enumerate(words) if words[i : i + 4] == ["docker", "exec", "smoke", "python"])
    check = words[at : at + 7]
    assert check[:5] == ["docker", "exec", "smoke", "python", "-m"]
    assert check[5].endswith(".serving.smoke")
    assert check[6] == "http://127.0.0.1:8080"


def test_images_are_built_for_amd64_and_arm64_under_pinned_qemu(project_for):
    pipeline = _pipeline(project_for)
    assert pipeline["variables"]["PLATFORMS"] == "linux/amd64,linux/arm64"
    setup = pipeline["push"]["before_script"]
    [binfmt] = [shlex.split(entry) for entry in setup if "tonistiigi/binfmt" in entry]
    assert binfmt[:4] == ["docker", "run", "--privileged", "--rm"]
    assert re.fullmatch(r"tonistiigi/binfmt:qemu-v[0-9.]+@sha256:[0-9a-f]{64}", binfmt[4])
    assert binfmt[5:] == ["--install", "arm64"]
    builder = next(i for i, entry in enumerate(setup) if entry.startswith("docker buildx create"))
    assert setup.index(" ".join(binfmt)) < builder  # the builder starts with QEMU registered


def test_version_tags_push_the_chart_with_the_images_login_and_sign_it(registry, project_for, tmp_path):
    pipeline = _pipeline(project_for, registry)
    job, push = pipeline["chart-package"], pipeline["push"]
    if registry == "dockerhub":  # no nested repositories: the chart stays a job artifact
        assert "CHART_REPOSITORY" not in pipeline["variables"]
        assert len(job["script"]) == 1
        return
    github = project_for(registry=registry, ci_provider="github").workflow("publish.yml")
    assert pipeline["variables"]["CHART_REPOSITORY"] == github["env"]["CHART_REPOSITORY"]
    # The same login as the image's, with Helm's command; the ID tokens it needs.
    [login] = _logins(job)
    assert login[:3] == ["helm", "registry", "login"]
    [image_login] = _logins(push)
    assert login[3:] == image_login[2:]
    assert job["id_tokens"] == push["id_tokens"]
    assert job["script"].index("set -o pipefail") < min(
        i for i, entry in enumerate(job["script"]) if "$LOGIN" in entry
    )
    # Run the push-and-sign entry with stand-in make and cosign.
    entry = next(entry for entry in job["script"] if "chart-push" in entry)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text('#!/bin/sh\necho "$@" > "$RECORD.make"\necho "Digest: sha256:abc" >&2\n')
    (bin_dir / "cosign").write_text('#!/bin/sh\necho "$@" > "$RECORD.cosign"\n')
    for tool in ("make", "cosign"):
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RECORD": str(tmp_path / "record"), "CI_COMMIT_TAG": "v1.2.3"}
    env |= {"SIGN_IMAGE": "true", "CHART_REPOSITORY": "reg/charts"}
    subprocess.run(["sh", "-e", "-c", entry], env=env, check=True)
    assert (tmp_path / "record.make").read_text() == "--silent chart-push CHART_VERSION=1.2.3\n"
    assert (tmp_path / "record.cosign").read_text() == "sign --yes reg/charts/my-model@sha256:abc\n"


DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _image_names(job: dict) -> list[str]:
    image = job.get("image")
    names = [image["name"] if isinstance(image, dict) else image] if image else []
    return names + [s["name"] if isinstance(s, dict) else s for s in job.get("services", [])]


def test_jobs_holding_tokens_run_images_pinned_by_digest(registry, project_for):
    pipeline = _pipeline(project_for, registry)
    holders = [
        name
        for name, job in pipeline.items()
        if isinstance(job, dict) and not name.startswith(".") and ("id_tokens" in job or _logins_of(job))
    ]
    assert {"push", "chart-package"} & set(holders) == {"push", "chart-package"} - (
        {"chart-package"} if registry == "dockerhub" else set()
    )
    for name in holders:
        job = {**pipeline.get(pipeline[name].get("extends", ""), {}), **pipeline[name]}
        images = _image_names(job)
        assert images, name
        for image in images:
            assert DIGEST.search(image), f"{name} runs {image}, not pinned by digest"
            assert ":" in image.partition("@")[0], f"{image}: keep the tag beside the digest for Renovate"


def _logins_of(job: dict) -> list[list[str]]:
    return _logins(job) if "LOGIN" in job.get("variables", {}) else []


def _cosign_installer(pipeline: dict) -> str:
    [entry] = pipeline[".install-cosign"]["script"]
    return entry


def _run_installer(
    entry: str, tmp_path: Path, payload: bytes, variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The installer entry with a stand-in wget serving ``payload``, installing into tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "payload").write_bytes(payload)
    # wget -q -O FILE URL: copy the payload to FILE and note the URL.
    (bin_dir / "wget").write_text(f'#!/bin/sh\necho "$4" > "{tmp_path}/url"\ncp "{tmp_path}/payload" "$3"\n')
    (bin_dir / "wget").chmod(0o755)
    script = entry.replace("/usr/local/bin/cosign", str(tmp_path / "cosign"))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", **variables}
    return subprocess.run(["sh", "-e", "-c", script], env=env, capture_output=True, text=True, check=False)


def test_signing_jobs_install_a_pinned_cosign_checked_by_sha256(project_for, tmp_path):
    pipeline = _pipeline(project_for)
    variables = pipeline["variables"]
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", variables["COSIGN_VERSION"])
    for job in ("push", "chart-package"):
        script = pipeline[job]["before_script"] + pipeline[job]["script"]
        assert not any("cosign" in e for e in script if e.startswith("apk add")), job
        signs = next(i for i, e in enumerate(script) if "cosign sign" in e)
        assert script.index(_cosign_installer(pipeline)) < signs, job
    entry = _cosign_installer(pipeline)
    arch = {"x86_64": "AMD64", "aarch64": "ARM64"}[platform.machine()]
    assert re.fullmatch(r"[0-9a-f]{64}", variables[f"COSIGN_SHA256_{arch}"])
    # The job's variables with this machine's checksum swapped for that of a stand-in binary.
    good = b"the cosign release binary"
    pinned = {k: v for k, v in variables.items() if k.startswith("COSIGN_")} | {"SIGN_IMAGE": "true"}
    pinned[f"COSIGN_SHA256_{arch}"] = hashlib.sha256(good).hexdigest()
    done = _run_installer(entry, tmp_path, good, pinned)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cosign").read_bytes() == good
    assert (tmp_path / "url").read_text().strip() == (
        f"https://github.com/sigstore/cosign/releases/download/v{variables['COSIGN_VERSION']}/"
        f"cosign-linux-{arch.lower()}"
    )
    (tmp_path / "cosign").unlink()
    tampered = _run_installer(entry, tmp_path, b"something else", pinned)
    assert tampered.returncode != 0
    assert not (tmp_path / "cosign").exists()
    assert _run_installer(entry, tmp_path, good, pinned | {"SIGN_IMAGE": "false"}).returncode == 0
    assert not (tmp_path / "cosign").exists()  # nothing fetched when nothing is signed


def test_the_model_image_is_pushed_beside_the_image_with_its_tags_signed(project_for, tmp_path: Path):
    files = project_for(ci_provider="gitlab")
    script = _pipeline(project_for)["push"]["script"]
    builds = [shlex.split(e) for e in script if e.startswith("docker buildx build")]
    [image, extract, model] = builds
    # The model the image was built with, out of the image build's registry cache.
    assert extract[extract.index("--target") + 1] == "model-files"
    assert "AS model-files" in (files.project / "Dockerfile").read_text(encoding="utf-8")
    assert extract[extract.index("--cache-from") + 1] == image[image.index("--cache-from") + 1]
    assert f"type=local,dest={model[-1]}" == extract[extract.index("--output") + 1]
    assert (files.project / model[model.index("-f") + 1]).is_file()
    assert {"--push", "--provenance=true", "--sbom=true"} <= set(model)
    # The image's tags, on <IMAGE>-model: run the step's line as the job's shell does.
    [retag] = [e for e in script if e.startswith("model_tag_args=")]
    image_ref = "registry.gitlab.com/team/my-model"
    tag_args = f" --tag {image_ref}:sha-1234567 --tag {image_ref}:1.2.3 --tag {image_ref}:latest"
    env = {"PATH": os.environ["PATH"], "IMAGE": image_ref, "tag_args": tag_args}
    done = subprocess.run(
        ["sh", "-c", f'{retag}\necho "$model_tag_args"'], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == tag_args.replace(f"{image_ref}:", f"{image_ref}-model:").split()
    sign = next(e for e in script if "cosign sign" in e and "-model@" in e)
    assert "model-build.json" in sign
    assert model[model.index("--metadata-file") + 1] == "model-build.json"
