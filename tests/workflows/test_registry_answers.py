"""The registry questions: asked only where they apply, refused with the sentence users read,
and turned into the image name every file uses."""

from __future__ import annotations

import pytest
import yaml

from generator.errors import GeneratorError
from generator.project.render import render_project

GHCR = "registry_namespace must be a GitHub user or organisation name in lowercase"
DOCKERHUB = "registry_namespace must be a Docker Hub user or organisation name"
GITLAB = "registry_namespace must be a GitLab group path in lowercase"
ACCOUNT = (
    "aws_account_id must be the 12-digit AWS account id (digits only, keep leading zeros), "
    'e.g. "123456789012".'
)
REGION = "aws_region must be an AWS region code"
PROJECT = "gcp_project_id must be a Google Cloud project id"
LOCATION = "gar_location must be an Artifact Registry location"
REPOSITORY = "gar_repository must be an Artifact Registry repository id"
ACR = "acr_name must be an Azure Container Registry name: 5 to 50 letters and digits"
OTHER = "registry_namespace must be a repository path in lowercase"
SCHEME = 'registry_host must be a host name without a scheme: drop "https://", e.g. "quay.io".'
PATH = 'registry_host must be a host name without a path: put "org/ml" in registry_namespace'
HOST = 'registry_host must be a lowercase host name, optionally with ":<port>"'
PORT = "registry_host's port must be a number from 1 to 65535"
NOT_A_HOST = (
    "registry_host must contain a '.' or a port "
    '(Docker would read "harbor" as a Docker Hub namespace): e.g. "harbor.example.com" or "harbor:5000".'
)

HOSTILE = [
    ({"registry": "ghcr", "registry_namespace": "My-Org"}, "registry_namespace", GHCR),
    ({"registry": "ghcr", "registry_namespace": "-org"}, "registry_namespace", GHCR),
    ({"registry": "ghcr", "registry_namespace": "my--org"}, "registry_namespace", GHCR),
    ({"registry": "ghcr", "registry_namespace": "a" * 40}, "registry_namespace", GHCR),
    ({"registry": "ghcr", "registry_namespace": "org/team"}, "registry_namespace", GHCR),
    ({"registry": "ghcr", "registry_namespace": "my-org\n"}, "registry_namespace", GHCR),
    ({"registry": "dockerhub", "registry_namespace": "my.org"}, "registry_namespace", DOCKERHUB),
    ({"registry": "dockerhub", "registry_namespace": "MyOrg"}, "registry_namespace", DOCKERHUB),
    ({"registry": "dockerhub", "registry_namespace": "a" * 31}, "registry_namespace", DOCKERHUB),
    ({"registry": "gitlab", "registry_namespace": "group//sub"}, "registry_namespace", GITLAB),
    ({"registry": "gitlab", "registry_namespace": "Group"}, "registry_namespace", GITLAB),
    ({"registry": "gitlab", "registry_namespace": "group/"}, "registry_namespace", GITLAB),
    ({"registry": "ecr", "aws_account_id": "12345678901"}, "aws_account_id", ACCOUNT),
    ({"registry": "ecr", "aws_account_id": "1234567890123"}, "aws_account_id", ACCOUNT),
    ({"registry": "ecr", "aws_account_id": "12345678901a"}, "aws_account_id", ACCOUNT),
    ({"registry": "ecr", "aws_region": "us-east"}, "aws_region", REGION),
    ({"registry": "ecr", "aws_region": "US-EAST-1"}, "aws_region", REGION),
    ({"registry": "ecr", "aws_region": "us-east-1; rm -rf /"}, "aws_region", REGION),
    ({"registry": "gar", "gcp_project_id": "1project"}, "gcp_project_id", PROJECT),
    ({"registry": "gar", "gcp_project_id": "short"}, "gcp_project_id", PROJECT),
    ({"registry": "gar", "gcp_project_id": "my-project-"}, "gcp_project_id", PROJECT),
    ({"registry": "gar", "gcp_project_id": "My-Project"}, "gcp_project_id", PROJECT),
    ({"registry": "gar", "gar_location": "mars"}, "gar_location", LOCATION),
    ({"registry": "gar", "gar_location": "europe-west"}, "gar_location", LOCATION),
    ({"registry": "gar", "gar_repository": "Models"}, "gar_repository", REPOSITORY),
    ({"registry": "gar", "gar_repository": "models-"}, "gar_repository", REPOSITORY),
    ({"registry": "gar", "gar_repository": "a" * 64}, "gar_repository", REPOSITORY),
    ({"registry": "acr", "acr_name": "reg"}, "acr_name", ACR),
    ({"registry": "acr", "acr_name": "my-registry"}, "acr_name", ACR),
    ({"registry": "acr", "acr_name": "a" * 51}, "acr_name", ACR),
    ({"registry": "other", "registry_host": "https://quay.io"}, "registry_host", SCHEME),
    ({"registry": "other", "registry_host": "quay.io/org/ml"}, "registry_host", PATH),
    ({"registry": "other", "registry_host": "Quay.io"}, "registry_host", HOST),
    ({"registry": "other", "registry_host": "harbor..example.com"}, "registry_host", HOST),
    ({"registry": "other", "registry_host": "-harbor.example.com"}, "registry_host", HOST),
    ({"registry": "other", "registry_host": "quay.io\n"}, "registry_host", HOST),
    ({"registry": "other", "registry_host": ""}, "registry_host", HOST),
    ({"registry": "other", "registry_host": "registry.local:"}, "registry_host", PORT),
    ({"registry": "other", "registry_host": "registry.local:0"}, "registry_host", PORT),
    ({"registry": "other", "registry_host": "registry.local:65536"}, "registry_host", PORT),
    ({"registry": "other", "registry_host": "registry.local:50a"}, "registry_host", PORT),
    ({"registry": "other", "registry_host": "harbor"}, "registry_host", NOT_A_HOST),
    ({"registry": "other", "registry_namespace": "My-Org"}, "registry_namespace", OTHER),
    ({"registry": "other", "registry_namespace": "org//ml"}, "registry_namespace", OTHER),
    ({"registry": "other", "registry_namespace": "/org"}, "registry_namespace", OTHER),
    ({"registry": "other", "registry_namespace": ""}, "registry_namespace", OTHER),
]


@pytest.mark.parametrize(
    ("answers", "question", "message"),
    HOSTILE,
    ids=[f"{q}={a[q][:20]!r}" for a, q, _ in HOSTILE],
)
def test_hostile_registry_answer_is_refused(tmp_path, template_snapshot, answers, question, message):
    dest = tmp_path / "project"
    with pytest.raises(GeneratorError) as caught:
        render_project(dest, answers, template=template_snapshot)
    assert f"'{question}'" in str(caught.value)
    assert message in str(caught.value)
    assert not dest.exists()


# Non-default answers and the image name they must give (spelled out, not derived).
IMAGES = [
    ({"registry": "ghcr", "registry_namespace": "acme-ml"}, "ghcr.io/acme-ml/my-model"),
    ({"registry": "dockerhub", "registry_namespace": "acme_ml"}, "docker.io/acme_ml/my-model"),
    (
        {"registry": "gitlab", "registry_namespace": "acme/data.science"},
        "registry.gitlab.com/acme/data.science/my-model",
    ),
    (
        {"registry": "ecr", "aws_account_id": "000123456789", "aws_region": "eu-central-1"},
        "000123456789.dkr.ecr.eu-central-1.amazonaws.com/my-model",
    ),
    (
        {"registry": "ecr", "aws_account_id": "123456789012", "aws_region": "cn-north-1"},
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/my-model",
    ),
    (
        {
            "registry": "gar",
            "gcp_project_id": "acme-ml-prod",
            "gar_location": "europe",
            "gar_repository": "serving",
        },
        "europe-docker.pkg.dev/acme-ml-prod/serving/my-model",
    ),
    ({"registry": "acr", "acr_name": "AcmeModels01"}, "acmemodels01.azurecr.io/my-model"),
    (
        {"registry": "other", "registry_host": "quay.io", "registry_namespace": "acme"},
        "quay.io/acme/my-model",
    ),
    (
        {"registry": "other", "registry_host": "harbor.example.com:8443", "registry_namespace": "ml/serving"},
        "harbor.example.com:8443/ml/serving/my-model",
    ),
    (
        {"registry": "other", "registry_host": "localhost:5000", "registry_namespace": "team"},
        "localhost:5000/team/my-model",
    ),
]


@pytest.mark.parametrize(("answers", "image"), IMAGES, ids=[image.split("/")[0] for _, image in IMAGES])
def test_answers_give_the_image_name_everywhere(render, answers, image):
    project = render({**answers, "ci_provider": "github"})
    publish = yaml.safe_load((project / ".github/workflows/publish.yml").read_text())
    values = yaml.safe_load((project / "charts/my-model/values.yaml").read_text())
    assert publish["env"]["IMAGE"] == image
    assert publish["env"]["REGISTRY"] == image.split("/")[0]
    assert values["image"]["repository"] == image
    gitlab = yaml.safe_load((render({**answers, "ci_provider": "gitlab"}) / ".gitlab-ci.yml").read_text())
    assert gitlab["variables"]["IMAGE"] == image


# Which registry answers each registry records (the others are not asked, so not recorded).
RECORDED = {
    "ghcr": {"registry_namespace"},
    "dockerhub": {"registry_namespace"},
    "gitlab": {"registry_namespace"},
    "ecr": {"aws_account_id", "aws_region"},
    "gar": {"gcp_project_id", "gar_location", "gar_repository"},
    "acr": {"acr_name"},
    "other": {"registry_host", "registry_namespace"},
}
ALL_SPECIFIC = set().union(*RECORDED.values())


def test_only_the_answers_a_registry_needs_are_recorded(registry, render):
    answers = yaml.safe_load((render({"registry": registry}) / ".copier-answers.yml").read_text())
    assert set(answers) & ALL_SPECIFIC == RECORDED[registry]
    assert "image_repository" not in answers  # derived, recomputed on `copier update`


def test_defaults_render_ghcr_and_github(default_project):
    answers = yaml.safe_load((default_project / ".copier-answers.yml").read_text())
    assert (answers["registry"], answers["ci_provider"]) == ("ghcr", "github")
    assert (default_project / ".github/workflows/publish.yml").is_file()
