"""The deployment files, checked without a container runtime: they parse, validate against
the Kubernetes schemas and the compose specification, lint clean, and agree with each other
and with the docs on the figures that must match (drain grace, queue-depth query)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.deploy


def yaml_files() -> list[Path]:
    return sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, document)
        for path in sorted(KUBERNETES.rglob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


def manifest(kind: str, name: str) -> dict[str, Any]:
    found = [
        doc for _, doc in manifests() if (doc["kind"], doc["metadata"]["name"]) == (kind, name)
    ]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


def container_env(deployment: dict[str, Any]) -> dict[str, str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def docs_query(name: str) -> str:
    """Return the PromQL that docs/deploy.md gives under `<!-- query: name -->`."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    found = re.search(rf"<!-- query: {name} -->\s*```promql\n(.+?)\n```", text, re.S)
    assert found, f"docs/deploy.md gives no {name} query"
    return found.group(1).strip()


def test_every_yaml_file_parses() -> None:
    assert len(yaml_files()) >= 6
    for path in yaml_files():
        assert list(yaml.safe_load_all(path.read_text())), path


def test_kubernetes_manifests_validate_against_the_kubernetes_schemas() -> None:
    kinds = set()
    for _, document in manifests():
        if document["apiVersion"].startswith("keda.sh/"):
            continue  # a custom resource: checked below, its schema is not Kubernetes'
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
        kinds.add(document["kind"])
    assert kinds >= {
        "Deployment",
        "Service",
        "Secret",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    }


def test_the_validator_refuses_a_broken_manifest() -> None:
    deployment = manifest("Deployment", "rota-server")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_servers_have_probes_and_a_disruption_budget() -> None:
    server = manifest("Deployment", "rota-server")
    (container,) = server["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    budget = manifest("PodDisruptionBudget", "rota-server")
    assert budget["spec"]["selector"] == server["spec"]["selector"]
    assert budget["spec"]["minAvailable"] >= 1 and server["spec"]["replicas"] > 1
    service = manifest("Service", "rota-server")
    assert service["spec"]["selector"] == server["spec"]["selector"]["matchLabels"]
    secret = manifest("Secret", "rota")
    assert set(secret["stringData"]) == {"ROTA_DB", "ROTA_TOKEN"}


def test_the_worker_pod_outlives_its_drain() -> None:
    worker = manifest("Deployment", "rota-worker")
    env = container_env(worker)
    grace = float(env["ROTA_DRAIN_GRACE_S"]) + float(env["ROTA_STOP_GRACE_S"])
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    compose_worker = compose["services"]["worker"]
    compose_grace = float(compose_worker["environment"]["ROTA_DRAIN_GRACE_S"]) + float(
        compose_worker["environment"]["ROTA_STOP_GRACE_S"]
    )
    assert float(compose_worker["stop_grace_period"].removesuffix("s")) > compose_grace

    unit = (DEPLOY / "systemd" / "rota-worker@.service").read_text()
    settings = dict(re.findall(r"^Environment=(ROTA_\w+)=(\S+)$", unit, re.M))
    stop_s = float(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))  # type: ignore[union-attr]
    assert stop_s > float(settings["ROTA_DRAIN_GRACE_S"]) + float(settings["ROTA_STOP_GRACE_S"])


def test_autoscalers_read_the_queue_depth_as_the_docs_say() -> None:
    scaled = manifest("ScaledObject", "rota-worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "rota-worker"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["query"] == docs_query("backlog")
    assert "sum(" not in docs_query("backlog") and "max(" in docs_query("backlog")
    hpa = manifest("HorizontalPodAutoscaler", "rota-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "rota-worker"


def test_compose_file_validates_against_the_compose_specification() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "compose.yaml"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_validation_refuses_a_broken_file(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    compose["services"]["worker"]["replicas_count"] = 3  # not a compose key
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(compose))
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        check=False,
    )
    assert result.returncode != 0


def test_compose_runs_two_servers_behind_nginx_and_three_workers() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    servers = [name for name, service in services.items() if service.get("command") == ["server"]]
    assert len(servers) == 2
    assert services["postgres"]["image"].startswith("postgres:")
    assert "./nginx/rota.conf:" in services["proxy"]["volumes"][0]
    conf = (DEPLOY / "nginx" / "rota.conf").read_text()
    assert all(f"server {name}:8077" in conf for name in servers)
    assert services["worker"]["deploy"]["replicas"] == 3
    assert services["worker"]["environment"]["ROTA_SERVER"] == "http://proxy:8077"


def test_the_compose_workers_present_the_token_the_docs_tell_you_to_make() -> None:
    # A server wants a token on every request and on the worker socket: a worker without
    # one is refused for good (exit 3), and compose would restart it for ever.
    worker = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["worker"]
    assert worker["environment"]["ROTA_TOKEN"] == "${ROTA_WORKER_TOKEN:-}"
    deploy_doc = (DEPLOY.parent / "docs" / "deploy.md").read_text()
    assert "ROTA_WORKER_TOKEN=" in deploy_doc and "servers do not check it" not in deploy_doc


def test_the_dockerfile_lints_clean() -> None:
    hadolint = BIN / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linter_finds_a_fault(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /src && pip install rota\n")
    result = subprocess.run([str(BIN / "hadolint"), str(bad)], capture_output=True, check=False)
    assert result.returncode != 0


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    rota = str(BIN / "rota")
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/rota/bin/rota", rota)
        (tmp_path / unit.name.replace("@.", "@1.")).write_text(text)
    units = sorted(str(path) for path in tmp_path.iterdir())
    result = subprocess.run(
        [analyze, "verify", *units], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
