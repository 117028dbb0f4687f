"""The GitHub workflows, read as data: image names, logins, tags, permissions, pins, smoke test."""

from __future__ import annotations

import re
import shlex
import subprocess

import yaml

from generator.project.variants import load_axes

# The image each registry gets with default answers: host and path are spelled out here, not
# derived, so a wrong derivation in copier.yml cannot agree with itself.
EXPECTED_IMAGE = {
    "ghcr": "ghcr.io/my-org/my-model",
    "dockerhub": "docker.io/myorg/my-model",
    "ecr": "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-model",
    "gar": "us-central1-docker.pkg.dev/my-gcp-project/containers/my-model",
    "acr": "mymodelsregistry.azurecr.io/my-model",
    "gitlab": "registry.gitlab.com/my-org/my-model",
    "other": "registry.example.com/my-org/my-model",
}

# How each registry logs in: the actions used in order, and the expressions that carry secrets.
LOGIN_ACTIONS = {
    "ghcr": ["docker/login-action"],
    "dockerhub": ["docker/login-action"],
    "ecr": ["aws-actions/configure-aws-credentials", "aws-actions/amazon-ecr-login"],
    "gar": ["google-github-actions/auth", "docker/login-action"],
    "acr": ["azure/login"],
    "gitlab": ["docker/login-action"],
    "other": ["docker/login-action"],
}
CLOUD_OIDC = {"ecr", "gar", "acr"}


def _publish(project_for, registry: str):
    return project_for(registry=registry, ci_provider="github").workflow("publish.yml")


def _job(workflow) -> dict:
    return workflow["jobs"]["publish"]


def _triggers(workflow) -> dict:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean true.
    return workflow[True]


def test_the_image_is_named_by_the_registry(registry, project_for):
    workflow = _publish(project_for, registry)
    assert workflow["env"]["IMAGE"] == EXPECTED_IMAGE[registry]
    assert workflow["env"]["REGISTRY"] == EXPECTED_IMAGE[registry].split("/")[0]


def test_chart_and_makefile_name_the_same_image(registry, project_for):
    project = project_for(registry=registry, ci_provider="github").project
    [chart] = (project / "charts").iterdir()
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["image"]["repository"] == EXPECTED_IMAGE[registry]
    # Ask make itself what `make push` would push.
    printed = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "--eval",
            "print-image: ; @echo $(REGISTRY_IMAGE) $(VERSION)",
            "print-image",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert printed == [EXPECTED_IMAGE[registry], "0.1.0"]


def test_login_is_the_registrys_documented_one(registry, project_for, steps_using):
    job = _job(_publish(project_for, registry))
    used = [str(step["uses"]).split("@")[0] for step in job["steps"] if "uses" in step]
    logins = [action for action in used if action in {a for v in LOGIN_ACTIONS.values() for a in v}]
    assert logins == LOGIN_ACTIONS[registry]
    if registry == "ghcr":
        [login] = steps_using(job, "docker/login-action")
        assert login["with"] == {
            "registry": "${{ env.REGISTRY }}",
            "username": "${{ github.actor }}",
            "password": "${{ secrets.GITHUB_TOKEN }}",
        }
    elif registry == "dockerhub":
        [login] = steps_using(job, "docker/login-action")
        assert login["with"]["password"] == "${{ secrets.DOCKERHUB_TOKEN }}"
        assert login["with"]["username"] == "${{ vars.DOCKERHUB_USERNAME }}"
    elif registry == "gitlab":
        [login] = steps_using(job, "docker/login-action")
        assert login["with"]["password"] == "${{ secrets.GITLAB_DEPLOY_TOKEN }}"
    elif registry == "other":
        [login] = steps_using(job, "docker/login-action")
        assert login["with"]["username"] == "${{ vars.REGISTRY_USERNAME }}"
        assert login["with"]["password"] == "${{ secrets.REGISTRY_PASSWORD }}"
    elif registry == "ecr":
        [aws] = steps_using(job, "aws-actions/configure-aws-credentials")
        assert aws["with"] == {
            "role-to-assume": "${{ vars.AWS_ROLE_ARN }}",
            "aws-region": "${{ env.AWS_REGION }}",
        }
        assert _publish(project_for, registry)["env"]["AWS_REGION"] == "us-east-1"
    elif registry == "gar":
        [auth] = steps_using(job, "google-github-actions/auth")
        assert auth["with"]["token_format"] == "access_token"
        assert auth["with"]["create_credentials_file"] is False
        assert set(auth["with"]) >= {"workload_identity_provider", "service_account"}
        [login] = steps_using(job, "docker/login-action")
        assert login["with"]["username"] == "oauth2accesstoken"
        assert login["with"]["password"] == f"${{{{ steps.{auth['id']}.outputs.access_token }}}}"
    elif registry == "acr":
        [azure] = steps_using(job, "azure/login")
        assert set(azure["with"]) == {"client-id", "tenant-id", "subscription-id"}
        acr_login = next(step for step in job["steps"] if "az acr login" in step.get("run", ""))
        assert shlex.split(acr_login["run"]) == ["az", "acr", "login", "--name", "$ACR_NAME"]
        assert _publish(project_for, registry)["env"]["ACR_NAME"] == "mymodelsregistry"
    if registry in {"ghcr", "dockerhub", "gitlab", "gar", "other"}:
        [login] = steps_using(job, "docker/login-action")
        assert login["with"]["registry"] == "${{ env.REGISTRY }}"


def test_logins_come_before_the_push(registry, project_for):
    steps = _job(_publish(project_for, registry))["steps"]
    names = [str(step.get("uses", step.get("name", ""))).split("@")[0] for step in steps]
    push = names.index("docker/build-push-action")
    for action in LOGIN_ACTIONS[registry]:
        assert names.index(action) < push


def _expressions(node) -> list[str]:
    """Every string in a parsed workflow (expressions live inside strings)."""
    if isinstance(node, dict):
        return [text for value in node.values() for text in _expressions(value)]
    if isinstance(node, list):
        return [text for value in node for text in _expressions(value)]
    return [node] if isinstance(node, str) else []


def test_cloud_logins_use_oidc_and_no_stored_secret(registry, project_for):
    workflow = _publish(project_for, registry)
    secrets = {name for text in _expressions(workflow) for name in re.findall(r"secrets\.(\w+)", text)}
    expected = {
        "ghcr": {"GITHUB_TOKEN"},
        "dockerhub": {"DOCKERHUB_TOKEN"},
        "gitlab": {"GITLAB_DEPLOY_TOKEN"},
        "other": {"REGISTRY_PASSWORD"},
    }
    assert secrets == expected.get(registry, set())
    if registry in CLOUD_OIDC:
        assert _job(workflow)["permissions"]["id-token"] == "write"


def test_permissions_are_least_privilege(registry, project_for):
    for name in ("ci.yml", "publish.yml"):
        workflow = project_for(registry=registry, ci_provider="github").workflow(name)
        assert workflow["permissions"] == {}, name
        for job_name, job in workflow["jobs"].items():
            expected = {"contents": "read"}
            if name == "publish.yml":
                expected["id-token"] = "write"  # cloud OIDC login and keyless signing
                if registry == "ghcr":
                    expected["packages"] = "write"
            assert job["permissions"] == expected, (name, job_name)


def test_every_checkout_drops_its_credentials(registry, project_for, steps_using, repo_workflows):
    project = project_for(registry=registry, ci_provider="github")
    workflows = [project.workflow("ci.yml"), project.workflow("publish.yml")]
    workflows += [yaml.safe_load(path.read_text()) for path in repo_workflows]
    for workflow in workflows:
        for job in workflow["jobs"].values():
            for checkout in steps_using(job, "actions/checkout"):
                assert checkout["with"]["persist-credentials"] is False


def test_every_action_is_pinned_to_a_known_commit(
    ci_variant, ci_files, repo_workflows, pins, uses_with_comments
):
    for path in [*ci_files.workflows, *repo_workflows]:
        for uses, comment in uses_with_comments(path):
            action, _, ref = uses.partition("@")
            assert action in pins, f"{path.name}: {action} is not in PINS (tests/workflows/conftest.py)"
            sha, version = pins[action]
            assert (ref, comment) == (sha, f"# {version}"), f"{path.name}: {uses} {comment}"


def test_build_pushes_with_provenance_sbom_and_cache(registry, project_for, steps_using):
    job = _job(_publish(project_for, registry))
    [build, _model] = steps_using(job, "docker/build-push-action")
    settings = build["with"]
    assert settings["push"] is True
    assert settings["provenance"] is True
    assert settings["sbom"] is True
    assert settings["cache-from"] == "type=gha"
    assert settings["cache-to"] == "type=gha,mode=max"
    assert settings["tags"] == "${{ steps.meta.outputs.tags }}"
    assert "IMAGE_VERSION=${{ steps.version.outputs.version }}" in settings["build-args"].splitlines()


def test_publish_runs_on_main_and_version_tags_only(registry, project_for):
    workflow = _publish(project_for, registry)
    assert _triggers(workflow) == {"push": {"branches": ["main"], "tags": ["v*"]}}
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_signing_is_keyless_by_digest_behind_a_toggle(registry, project_for, steps_using):
    workflow = _publish(project_for, registry)
    assert workflow["env"]["SIGN_IMAGE"] == "true"
    job = _job(workflow)
    [install] = steps_using(job, "sigstore/cosign-installer")
    sign = next(step for step in job["steps"] if step.get("run", "").startswith("cosign sign"))
    for step in (install, sign):
        assert step["if"] == "env.SIGN_IMAGE == 'true'"
    assert shlex.split(sign["run"]) == ["cosign", "sign", "--yes", "--recursive", "${IMAGE}@${DIGEST}"]
    assert sign["env"] == {"DIGEST": "${{ steps.build.outputs.digest }}"}
    assert job["permissions"]["id-token"] == "write"


def test_the_model_image_is_pushed_beside_the_image_with_its_tags_and_signed(
    registry, project_for, steps_using
):
    files = project_for(registry=registry, ci_provider="github")
    job = _job(files.workflow("publish.yml"))
    names = [step.get("name") or step["uses"].split("@")[0] for step in job["steps"]]
    # The model the image was built with, out of the same build's cache (the Dockerfile's stage).
    [extract] = [step for step in job["steps"] if step.get("name") == "The model the image was built with"]
    command = shlex.split(extract["run"])
    assert command[command.index("--target") + 1] == "model-files"
    destination = command[command.index("--output") + 1]
    assert "AS model-files" in (files.project / "Dockerfile").read_text(encoding="utf-8")
    assert names.index("Build and push") < names.index("The model the image was built with")
    [meta, model_meta] = steps_using(job, "docker/metadata-action")
    assert model_meta["with"]["images"] == "${{ env.IMAGE }}-model"
    assert model_meta["with"]["tags"] == meta["with"]["tags"]
    [_build, model] = steps_using(job, "docker/build-push-action")
    settings = model["with"]
    assert f"type=local,dest={settings['context']}" == destination
    assert (files.project / settings["file"]).is_file()  # model.Dockerfile, as `make model-image` builds it
    assert (settings["push"], settings["provenance"], settings["sbom"]) == (True, True, True)
    assert settings["tags"] == "${{ steps.model-meta.outputs.tags }}"
    sign = next(step for step in job["steps"] if step.get("name") == "Sign the model image (keyless)")
    assert shlex.split(sign["run"]) == ["cosign", "sign", "--yes", "--recursive", "${IMAGE}-model@${DIGEST}"]
    assert sign["env"] == {"DIGEST": "${{ steps.model-build.outputs.digest }}"}
    assert sign["if"] == "env.SIGN_IMAGE == 'true'"


# --- ci.yml -----------------------------------------------------------------------------------
def test_ci_lints_and_tests_on_pushes_and_pull_requests(project_for):
    for python in next(axis for axis in load_axes() if axis.name == "python_version").values:
        workflow = project_for(ci_provider="github", python_version=python).workflow("ci.yml")
        assert _triggers(workflow) == {"push": {"branches": ["main"]}, "pull_request": None}
        runs = [step["run"] for step in workflow["jobs"]["lint-test"]["steps"] if "run" in step]
        assert runs == [
            "uv sync --locked",
            "make lint",
            "make test",
            "make test-runtime",
            "make test-notebooks",
        ]
        [lint] = [step for step in workflow["jobs"]["lint-test"]["steps"] if step.get("run") == "make lint"]
        # pre-commit's SKIP: the chart job runs that hook with a pinned Helm.
        assert lint["env"] == {"SKIP": "chart-lint"}


def test_ci_takes_the_pinned_python_and_never_lets_uv_download_one(project_for, steps_using):
    for python in next(axis for axis in load_axes() if axis.name == "python_version").values:
        project = project_for(ci_provider="github", python_version=python)
        workflow = project.workflow("ci.yml")
        assert workflow["env"]["UV_PYTHON_DOWNLOADS"] == "never"
        assert "UV_PYTHON" not in workflow["env"]
        [setup] = steps_using(workflow["jobs"]["lint-test"], "actions/setup-python")
        assert setup["with"] == {"python-version-file": ".python-version"}
        assert (project.project / ".python-version").read_text(encoding="utf-8") == f"{python}\n"


def test_ci_smoke_tests_the_image_read_only_as_non_root(project_for, steps_using):
    job = project_for(ci_provider="github").workflow("ci.yml")["jobs"]["image"]
    assert job["if"] == "github.event_name == 'pull_request'"
    [build] = steps_using(job, "docker/build-push-action")
    assert build["with"]["load"] is True
    assert build["with"].get("push", False) is False
    smoke = next(step["run"] for step in job["steps"] if step.get("name") == "Smoke test")
    words = shlex.split(smoke.replace("\\\n", " "), comments=False)
    run_at = words.index("run")
    docker_run = words[run_at : words.index("$SMOKE_IMAGE", run_at) + 1]
    assert {"--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "no-new-privileges"} <= set(docker_run)
    assert "--user" not in docker_run  # the image's own uid is what is checked
    urls = {word for word in words if word.startswith("http://127.0.0.1:8080/")}
    assert urls == {"http://127.0.0.1:8080/v2/health/ready"}
    # The answers are checked by the project's own smoke module, in the image, against the
    # example request of the model's signature: no row of data is written into the workflow.
    at = next(i for i, word in enumerate(words) if words[i : i + 4] == ["docker", "exec", "smoke", "python"])
    check = words[at : at + 7]
    assert check[:4] == ["docker", "exec", "smoke", "python"]
    assert check[4] == "-m"
    assert check[5].endswith(".serving.smoke")
    assert check[6] == "http://127.0.0.1:8080"


def test_publish_job_runs_in_a_protected_environment(registry, project_for):
    # Registry credentials and cloud trust are scoped to the `publish` environment (README).
    assert _job(_publish(project_for, registry))["environment"] == "publish"


def test_ci_checks_the_chart_with_pinned_helm_through_make(project_for, steps_using):
    job = project_for(ci_provider="github").workflow("ci.yml")["jobs"]["chart"]
    assert job["permissions"] == {"contents": "read"}
    [helm] = steps_using(job, "azure/setup-helm")
    assert helm["with"]["version"].startswith("v3.")
    [uv] = steps_using(job, "astral-sh/setup-uv")
    assert uv["with"]["version"]
    assert [step["run"] for step in job["steps"] if "run" in step] == ["make chart-lint"]


def test_publish_stamps_one_version_from_the_git_tag(project_for, steps_using):
    job = _job(project_for(ci_provider="github").workflow("publish.yml"))
    [checkout] = steps_using(job, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0  # the tags setuptools-scm counts from
    [version] = [step for step in job["steps"] if step.get("id") == "version"]
    assert "version=$(make --silent version)" in version["run"]
    for meta in steps_using(job, "docker/metadata-action"):  # the image's and the model image's
        assert (
            meta["with"]["labels"] == "org.opencontainers.image.version=${{ steps.version.outputs.version }}"
        )
    steps = [step.get("name") or step["uses"].split("@")[0] for step in job["steps"]]
    assert steps.index("Version") < steps.index("Build and push")


def test_publish_packages_the_chart_with_the_tags_version_on_tags_only(project_for, steps_using):
    job = _job(project_for(ci_provider="github").workflow("publish.yml"))
    [package] = [step for step in job["steps"] if step.get("name") == "Package the chart"]
    assert package["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert package["run"] == 'make chart-package CHART_VERSION="${TAG#v}" APP_VERSION="${TAG#v}"'
    assert package["env"] == {"TAG": "${{ github.ref_name }}"}
    [upload] = steps_using(job, "actions/upload-artifact")
    assert upload["if"] == package["if"]
    assert upload["with"]["path"] == "dist/*.tgz"


# The chart's OCI repository for each registry: beside the image under charts/ (under the
# project's own path on GitLab), none on Docker Hub (no nested repositories). Spelled out.
EXPECTED_CHART_REPOSITORY = {
    "ghcr": "ghcr.io/my-org/charts",
    "dockerhub": None,
    "ecr": "123456789012.dkr.ecr.us-east-1.amazonaws.com/charts",
    "gar": "us-central1-docker.pkg.dev/my-gcp-project/containers/charts",
    "acr": "mymodelsregistry.azurecr.io/charts",
    "gitlab": "registry.gitlab.com/my-org/my-model/charts",
    "other": "registry.example.com/my-org/charts",
}


def test_images_are_built_for_amd64_and_arm64_under_pinned_qemu(registry, project_for, steps_using):
    workflow = _publish(project_for, registry)
    assert workflow["env"]["PLATFORMS"] == "linux/amd64,linux/arm64"
    job = _job(workflow)
    [qemu] = steps_using(job, "docker/setup-qemu-action")
    assert qemu["with"]["platforms"] == "arm64"
    assert re.fullmatch(r"tonistiigi/binfmt:qemu-v[0-9.]+@sha256:[0-9a-f]{64}", qemu["with"]["image"])
    for build in steps_using(job, "docker/build-push-action"):  # the image and the model image
        assert build["with"]["platforms"] == "${{ env.PLATFORMS }}"
    steps = [step.get("name") or step["uses"].split("@")[0] for step in job["steps"]]
    assert steps.index("docker/setup-qemu-action") < steps.index("docker/setup-buildx-action")
    assert steps.index("docker/setup-buildx-action") < steps.index("Build and push")


def test_version_tags_push_the_chart_beside_the_image_and_sign_it(registry, project_for, tmp_path):
    workflow = _publish(project_for, registry)
    job = _job(workflow)
    named = {step.get("name"): step for step in job["steps"]}
    expected = EXPECTED_CHART_REPOSITORY[registry]
    if expected is None:
        assert "CHART_REPOSITORY" not in workflow["env"]
        assert not {"Push the chart", "Sign the chart (keyless)"} & set(named)
        return
    assert workflow["env"]["CHART_REPOSITORY"] == expected
    assert f"{expected}/my-model" != workflow["env"]["IMAGE"]  # chart and image tags never meet
    push, sign = named["Push the chart"], named["Sign the chart (keyless)"]
    assert push["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert sign["if"] == "startsWith(github.ref, 'refs/tags/v') && env.SIGN_IMAGE == 'true'"
    steps = list(named)
    assert (
        steps.index("Package the chart")
        < steps.index("Push the chart")
        < steps.index("Sign the chart (keyless)")
    )
    assert steps.index("Sign the image (keyless)") < steps.index(
        "Sign the chart (keyless)"
    )  # cosign is installed
    # Run the push step with stand-in make and cosign: it hands on the digest Helm prints.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(
        '#!/bin/sh\necho "$@" > "$RECORD.make"\n'
        'echo "Pushed: x/my-model:1.2.3" >&2\necho "Digest: sha256:abc" >&2\n'
    )
    (bin_dir / "make").chmod(0o755)
    output = tmp_path / "output"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RECORD": str(tmp_path / "record"), "TAG": "v1.2.3"}
    subprocess.run(["bash", "-e", "-c", push["run"]], env={**env, "GITHUB_OUTPUT": str(output)}, check=True)
    assert (tmp_path / "record.make").read_text() == "--silent chart-push CHART_VERSION=1.2.3\n"
    assert output.read_text() == "digest=sha256:abc\n"
    assert shlex.split(sign["run"]) == ["cosign", "sign", "--yes", "${CHART_REPOSITORY}/my-model@${DIGEST}"]
    assert sign["env"] == {"DIGEST": "${{ steps.chart.outputs.digest }}"}
    # Helm reads the login Docker got: the chart goes to the image's registry host.
    assert expected.split("/")[0] == workflow["env"]["REGISTRY"]
