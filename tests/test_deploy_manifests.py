"""deploy/ manifests: valid against Kubernetes' own schemas, offline, and wired together.

kubernetes-validate ships the OpenAPI-derived JSON schemas of every
Kubernetes release in the wheel, so this needs no cluster and no network.
Strict mode rejects unknown fields, so a misspelt key fails here, not at
`kubectl apply`. The structural checks then pin what the schemas cannot:
probes use the gRPC health service, the Service is headless, the PDB and
the HPA select and target the Deployment, args name real server flags.
"""

from __future__ import annotations

import copy
import logging
import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from whatsapp_errors.server.__main__ import parse_args
from whatsapp_errors.server.app import SERVICE_NAME
from whatsapp_errors.server.catalog import load_catalog

_LOGGER = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
"""Oldest supported (preStop `sleep` needs 1.30) and the newest schema bundled."""


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
    return document


def resources() -> dict[str, dict[str, Any]]:
    """Every manifest the kustomization lists, by kind."""
    kustomization = load("kustomization.yaml")
    return {(doc := load(name))["kind"]: doc for name in kustomization["resources"]}


def test_kustomization_lists_every_manifest() -> None:
    listed = set(load("kustomization.yaml")["resources"])
    present = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_strictly(version: str) -> None:
    for kind, document in resources().items():
        kubernetes_validate.validate(document, version, strict=True)  # raises on any error
        _LOGGER.info("%s valid for %s", kind, version)


def test_the_validator_catches_mistakes() -> None:
    """Proves the check bites: a misspelt field and a wrong type both fail."""
    deployment = resources()["Deployment"]
    typo = copy.deepcopy(deployment)
    container = typo["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSIONS[-1], strict=True)
    wrong = copy.deepcopy(deployment)
    wrong["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_pieces_fit_together(tmp_path: Path) -> None:
    docs = resources()
    deployment, service = docs["Deployment"], docs["Service"]
    pdb, hpa, overlay = (
        docs["PodDisruptionBudget"],
        docs["HorizontalPodAutoscaler"],
        docs["ConfigMap"],
    )
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    # Probes: Kubernetes' native gRPC probes against the health service on the gRPC port.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == ports["grpc"], probe
    assert container["readinessProbe"]["grpc"]["service"] == SERVICE_NAME

    # The args are real flags and agree with the ports and the mounted overlay.
    args = parse_args(container["args"])
    assert (args.port, args.metrics_port, args.workers) == (ports["grpc"], ports["metrics"], 1)
    assert args.log_format == "json" and args.watch_interval > 0
    mount = container["volumeMounts"][0]["mountPath"]
    assert str(args.overlay).startswith(mount + "/")
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
    assert pod["spec"]["terminationGracePeriodSeconds"] > args.grace + 5

    # The ConfigMap's overlay is a catalog overlay the server accepts.
    (tmp_path / "overlay.toml").write_text(overlay["data"]["overlay.toml"], encoding="utf-8")
    assert "+site-1-" in load_catalog(overlay=tmp_path / "overlay.toml").version

    # Headless Service for client-side round robin, selecting the pods.
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "grpc"

    # PDB selects the pods; HPA scales the Deployment on CPU, never below the PDB's needs.
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["maxUnavailable"]
    assert container["resources"]["requests"]["cpu"]  # Utilization needs a request

    # Non-root and locked down, like the Dockerfile's USER.
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_dockerfile_runs_as_non_root_with_a_grpc_health_check() -> None:
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text(encoding="utf-8")
    assert "\nUSER 10001:10001\n" in dockerfile
    assert 'CMD ["python", "-m", "whatsapp_errors.server.healthcheck"' in dockerfile
    assert "-slim" in dockerfile
    ignore = (DEPLOY.parent / ".dockerignore").read_text(encoding="utf-8").split()
    assert ignore[ignore.index("*") :][:1] == ["*"]  # deny by default, allow what ships
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    }
    assert copied == allowed  # what the build copies is what the context lets in
    assert {"setup.py", "whatsapp_errors"} <= copied  # mypyc's build and its module names
    assert "**/*.so" in ignore  # a host's build never ships


def test_the_image_tag_is_the_packages_version_everywhere() -> None:
    """One number: both pyprojects, the Dockerfile's label, the manifest's image, the docs."""
    versions = {
        tomllib.loads((ROOT / path).read_text(encoding="utf-8"))["project"]["version"]
        for path in ("pyproject.toml", "client/pyproject.toml")
    }
    assert len(versions) == 1
    [version] = versions
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG VERSION={version}\n" in dockerfile
    assert f"docker build -t whatsapp-errors-server:{version} ." in dockerfile
    [container] = load("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"whatsapp-errors-server:{version}"
    tags = re.findall(r"whatsapp-errors-server:([\w.]+)", (ROOT / "docs/operations.md").read_text())
    assert tags and set(tags) == {version}
