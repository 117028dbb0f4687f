"""kind tier: deploy the default project's image once per deployment option and prove it serves.

Skips in seconds, with the one-line reason from ``kind_unavailable_reason``, where kind cannot
create a cluster (the root conftest asks before any fixture runs). One cluster serves the
session; each deploy installs, tests and removes its own release.
"""

from __future__ import annotations

import time

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from generator.chart.helm import find_helms
from generator.cluster import deploy, deploy_plan, kind

pytestmark = pytest.mark.kind


def _autoscaled_and_guarded(report: deploy_plan.DeployReport, kubeconfig) -> None:
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    plan = report.plan
    hpas = k8s.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler(
        plan.namespace, label_selector=plan.selector
    )
    pdbs = k8s.PolicyV1Api(api).list_namespaced_pod_disruption_budget(
        plan.namespace, label_selector=plan.selector
    )
    assert [hpa.spec.min_replicas for hpa in hpas.items] == [2]
    assert [pdb.spec.min_available for pdb in pdbs.items] == [1]
    # The HPA raises the Deployment to minReplicas even without metrics-server; then the PDB
    # allows one voluntary disruption.
    apps, policy = k8s.AppsV1Api(api), k8s.PolicyV1Api(api)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        (deployment,) = apps.list_namespaced_deployment(plan.namespace, label_selector=plan.selector).items
        (pdb,) = policy.list_namespaced_pod_disruption_budget(
            plan.namespace, label_selector=plan.selector
        ).items
        if (deployment.status.available_replicas or 0) >= 2 and (pdb.status.disruptions_allowed or 0) >= 1:
            return
        time.sleep(3)
    pytest.fail(
        f"after 120 s: {deployment.status.available_replicas} replicas available, "
        f"PDB allows {pdb.status.disruptions_allowed} disruptions"
    )


def test_deploy_serves_the_model(
    default_project, served_image, kind_cluster, deploy_option, deploy_values, tmp_path
):
    report = deploy.deploy_to_kind(
        default_project, cluster=kind_cluster, image=served_image, values=deploy_values, keep=True
    )
    try:
        assert report.ok, report.infer.detail
        assert not report.created_cluster  # the session's cluster is reused, never deleted by a deploy
        assert "infer: 200" in report.helm_test_log  # printed by the chart's test pod
        if deploy_option == "autoscaling-pdb":
            _autoscaled_and_guarded(report, kind.write_kubeconfig(kind_cluster, tmp_path / "kubeconfig"))
    finally:
        deploy.teardown(report)


def test_helm3_installs_the_chart_too(default_project, served_image, kind_cluster):
    helm3 = next((helm for helm in find_helms() if helm.major == 3), None)
    if helm3 is None:
        pytest.skip("Helm 3 (`helm3`) is not installed (run scripts/setup-k8s-tools.sh)")

    report = deploy.deploy_to_kind(default_project, cluster=kind_cluster, image=served_image, helm=helm3)

    assert report.ok, report.infer.detail
    assert report.steps[-1][0] == "remove"
