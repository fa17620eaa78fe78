"""deploy/k8s: what `kubectl apply -k` sends (kustomize's output) matches the Kubernetes JSON
schemas, strictly (an unknown field fails), checked offline by kubernetes-validate, whose wheel
carries the schemas; and every installed service runs there as in Compose."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from handoff.service import installed_services
from tests.deploy.files import (
    K8S,
    compose_services,
    containers_by_module,
    dockerfile_stages,
    kubectl,
    kustomization_resources,
    render_kustomization,
)

# The oldest Kubernetes the manifests promise to work on, and the newest the validator knows.
VERSIONS = ("1.31.0", kubernetes_validate.latest_version())

needs_kubectl = pytest.mark.skipif(
    kubectl() is None, reason="kubectl missing: the kustomize output cannot be rendered"
)


def schema_errors(manifests: list[dict[str, Any]]) -> list[str]:
    errors = []
    for doc in manifests:
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
                errors.append(f"{name} (Kubernetes {version}): {exc.message} at {list(exc.path)}")
    return errors


@needs_kubectl
def test_the_kustomize_output_matches_the_kubernetes_schemas() -> None:
    manifests = render_kustomization()
    assert {d["kind"] for d in manifests} >= {"Deployment", "Service", "Job", "ConfigMap"}
    assert schema_errors(manifests) == []


def test_each_listed_manifest_matches_the_kubernetes_schemas() -> None:
    """The files as written, so the schemas are checked even where kubectl is missing."""
    assert schema_errors(kustomization_resources()) == []


@needs_kubectl
@pytest.mark.parametrize(
    ("original", "broken", "complaint"),
    [
        ("replicas: 2", "replicas: two", "'two' is not of type 'integer'"),
        ("readinessProbe:", "readynessProbe:", "readynessProbe"),
    ],
    ids=["wrong type", "unknown field"],
)
def test_a_broken_manifest_fails_the_schemas(
    tmp_path: Path, original: str, broken: str, complaint: str
) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    routing = copy / "routing.yaml"
    assert original in routing.read_text()
    routing.write_text(routing.read_text().replace(original, broken))
    errors = schema_errors(render_kustomization(copy))
    assert errors and all("handoff-routing" in e for e in errors), errors
    assert complaint in errors[0]


@needs_kubectl
def test_every_image_is_pinned_to_a_tag() -> None:
    for doc in render_kustomization():
        pod = doc["spec"]["template"]["spec"] if doc["kind"] in ("Deployment", "Job") else None
        for container in (pod or {}).get("containers", []):
            name, _, tag = container["image"].rpartition(":")
            assert name and tag and tag != "latest", container["image"]


def test_every_installed_service_has_a_deployment_that_production_would_run() -> None:
    manifests = kustomization_resources()
    containers = containers_by_module(manifests)
    services = {
        d["spec"]["selector"]["app.kubernetes.io/component"]: d
        for d in manifests
        if d["kind"] == "Service"
    }
    for spec in installed_services():
        found = containers.get(spec.package)
        assert found, f"deploy/k8s has no Deployment running `python -m {spec.package}`"
        container, deployment = found["container"], found["deployment"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        port = env.get(spec.port_env)
        assert port, f"{deployment['metadata']['name']} sets no {spec.port_env}"
        assert container["ports"] == [{"name": "http", "containerPort": int(port)}]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == port
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys() and "memory" in resources["limits"]
        service = services.get(spec.name)
        assert service and service["spec"]["ports"][0]["targetPort"] == "http", spec.name


def test_kubernetes_gives_each_service_the_variables_compose_does() -> None:
    """Same HANDOFF_ names per service (values differ: secrets and config maps in Kubernetes)."""
    compose = {s.module: s for s in compose_services().values() if s.module}
    containers = containers_by_module(kustomization_resources())
    for spec in installed_services():
        k8s_names = {e["name"] for e in containers[spec.package]["container"]["env"]}
        assert k8s_names == compose[spec.package].environment.keys(), spec.name


def test_the_setup_job_does_what_compose_setup_does() -> None:
    job = next(d for d in kustomization_resources() if d["kind"] == "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    setup = compose_services()["setup"]
    assert {e["name"] for e in container["env"]} == setup.environment.keys()
    # Only the replication differs: one Kafka node in Compose, three in a cluster.
    assert container["command"][:2] == setup.command[:2] == ["sh", "-c"]
    assert container["command"][2].replace("--replication 3", "--replication 1") == setup.command[2]


def test_every_pod_runs_as_the_images_user() -> None:
    """runAsNonRoot can only be checked against a numeric USER; the pods name the same one."""
    [user] = [args for instruction, args in dockerfile_stages()[-1] if instruction == "USER"]
    assert user.isdigit(), f"the image's USER {user!r} is not numeric"
    for doc in kustomization_resources():
        if doc["kind"] in ("Deployment", "Job"):
            context = doc["spec"]["template"]["spec"]["securityContext"]
            assert context == {"runAsNonRoot": True, "runAsUser": int(user)}, doc["metadata"]
