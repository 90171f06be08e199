"""The deploy manifests (Dockerfile, docker-compose.yml, infra/deploy/k8s) checked without Docker.

Each check is a function that returns the problems it finds, run once on the real files and
once on a small broken example, so every assertion is shown to be able to fail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import Settings
from marketplace.cli import build_parser
from marketplace.projectors import PROJECTORS

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "infra" / "deploy" / "k8s"

PREFIX = str(Settings.model_config.get("env_prefix", "MARKETPLACE_"))
STORES = ("kurrentdb", "postgres", "redis", "opensearch")
APPS = {
    "writeapi": ["serve-write"],
    "readapi": ["serve-read"],
    "projector-product-detail": ["project", "product-detail"],
    "projector-carts": ["project", "carts"],
    "projector-catalog-search": ["project", "catalog-search"],
}
API_PORT_FIELD = {"writeapi": "write_api_port", "readapi": "read_api_port"}
SENSITIVE = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
REQUIRED_VAR = r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}"
URL_PASSWORD = re.compile(r"://[^/@\s:]+:([^@\s/]+)@")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}")

Env = list[tuple[str, str, Any]]


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S_DIR.glob("*.y*ml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def compose_env(compose: dict[str, Any]) -> Env:
    """(where, name, value) for every environment entry of every compose service."""
    entries: Env = []
    for name, service in compose.get("services", {}).items():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        entries.extend((f"services.{name}", str(k), v) for k, v in env.items())
    return entries


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def k8s_env(docs: list[dict[str, Any]]) -> Env:
    """(where, name, value or valueFrom) for container env and ConfigMap data."""
    entries: Env = []
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if doc.get("kind") == "ConfigMap":
            entries.extend((where, str(k), v) for k, v in (doc.get("data") or {}).items())
        for container in containers(doc):
            for item in container.get("env", []):
                value = item.get("valueFrom", item.get("value"))
                entries.append((f"{where}/{container['name']}", item["name"], value))
    return entries


def literal_secrets(entries: Env) -> list[str]:
    """Sensitive names not given as ${VAR:?...} or secretKeyRef, and URLs with a password."""
    problems = []
    for where, name, value in entries:
        if isinstance(value, dict):
            if SENSITIVE.search(name) and "secretKeyRef" not in value:
                problems.append(f"{where}: {name} must come from a secretKeyRef")
            continue
        text = "" if value is None else str(value)
        if SENSITIVE.search(name) and not re.fullmatch(REQUIRED_VAR, text):
            problems.append(f"{where}: {name} is not a required ${{VAR:?...}} interpolation")
        for password in URL_PASSWORD.findall(text):
            if not re.fullmatch(REQUIRED_VAR, password):
                problems.append(f"{where}: {name} embeds a literal password in a URL")
    return problems


def missing_healthchecks(compose: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in compose.get("services", {}).items():
        check = service.get("healthcheck") or {}
        test = check.get("test")
        if check.get("disable") or not test or test in ("NONE", ["NONE"]):
            problems.append(f"{name} has no healthcheck")
    return problems


def unhealthy_dependencies(compose: dict[str, Any], apps: list[str]) -> list[str]:
    problems = []
    for app in apps:
        depends = compose["services"][app].get("depends_on") or {}
        if not isinstance(depends, dict):
            depends = {}
        for store in STORES:
            if (depends.get(store) or {}).get("condition") != "service_healthy":
                problems.append(f"{app} does not wait for {store} to be service_healthy")
    return problems


def non_loopback_ports(compose: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in compose.get("services", {}).items():
        if service.get("network_mode") == "host":
            problems.append(f"{name} uses the host network")
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            if host_ip != "127.0.0.1" or (not isinstance(port, dict) and str(port).count(":") != 2):
                problems.append(f"{name} publishes {port!r} beyond 127.0.0.1")
    return problems


def marketplace_names(compose_text: str, entries: Env, dockerfile: str) -> set[str]:
    """Every MARKETPLACE_* name set or interpolated anywhere in the manifests."""
    names = {name for _, name, _ in entries if name.startswith(PREFIX)}
    names |= {m.group(1) for m in INTERPOLATION.finditer(compose_text)}
    names |= {name for name, _ in dockerfile_env(dockerfile)}
    return {name for name in names if name.startswith(PREFIX)}


def unknown_settings(names: set[str]) -> list[str]:
    return sorted(n for n in names if n[len(PREFIX) :].lower() not in Settings.model_fields)


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuation lines joined."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def dockerfile_env(dockerfile: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for keyword, rest in instructions(dockerfile):
        if keyword in ("ENV", "ARG"):
            pairs.extend((m.group(1), m.group(2)) for m in re.finditer(r"(\w+)(?:=(\S*))?", rest))
    return pairs


def dockerfile_problems(dockerfile: str) -> list[str]:
    steps = instructions(dockerfile)
    froms = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"]
    final = steps[froms[-1] :] if froms else steps
    problems = []
    if not froms or not steps[froms[-1]][1].startswith("python:3.11-slim"):
        problems.append("the final stage is not based on python:3.11-slim")
    users = [rest for keyword, rest in final if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage runs as root (no non-root USER line)")
    if ("ENTRYPOINT", '["marketplace"]') not in final:
        problems.append('the ENTRYPOINT is not ["marketplace"]')
    for name, _ in dockerfile_env(dockerfile):
        if re.search(r"SECRET|PASSWORD", name, re.IGNORECASE):
            problems.append(f"the image bakes in {name}")
    return problems


def deployment_problems(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for doc in (d for d in docs if d.get("kind") == "Deployment"):
        for c in containers(doc):
            where = f"{doc['metadata']['name']}/{c['name']}"
            ports = {p.get("name") for p in c.get("ports", [])} | {
                p.get("containerPort") for p in c.get("ports", [])
            }
            for probe in ("readinessProbe", "livenessProbe"):
                spec = c.get(probe) or {}
                if not ({"httpGet", "exec", "tcpSocket", "grpc"} & spec.keys()):
                    problems.append(f"{where} has no {probe}")
                if "httpGet" in spec and spec["httpGet"].get("port") not in ports:
                    problems.append(f"{where} {probe} probes a port the container does not open")
            resources = c.get("resources") or {}
            for kind in ("limits", "requests"):
                if not {"cpu", "memory"} <= (resources.get(kind) or {}).keys():
                    problems.append(f"{where} lacks cpu and memory {kind}")
    return problems


def stand_in(match: re.Match[str]) -> str:
    """The default of ${VAR:-default}; a placeholder for a variable the operator must set."""
    return match.group(3) if match.group(2) == "-" else f"from-env-{match.group(1)}"


def settings_env(entries: Env) -> Iterator[tuple[str, str]]:
    """MARKETPLACE_* entries with interpolations and secretKeyRefs replaced by stand-ins."""
    for _, name, value in entries:
        if not name.startswith(PREFIX):
            continue
        if isinstance(value, dict):
            yield name, f"from-secret-{value['secretKeyRef']['key']}"
        else:
            yield name, INTERPOLATION.sub(stand_in, str(value))


def build_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    """Settings read from exactly env, as a container would see it."""
    for name in [n for n in os.environ if n.startswith(PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


# The real files.


def test_compose_has_the_stores_and_the_app_services_built_from_the_dockerfile() -> None:
    services = load_compose()["services"]
    assert set(STORES) | set(APPS) <= services.keys()
    for app, command in APPS.items():
        assert services[app]["build"]["context"] == "."
        assert services[app]["command"] == command


def test_every_compose_service_has_a_healthcheck() -> None:
    assert missing_healthchecks(load_compose()) == []


def test_app_services_wait_for_healthy_stores() -> None:
    assert unhealthy_dependencies(load_compose(), list(APPS)) == []


def test_no_literal_secrets_in_compose_or_k8s() -> None:
    assert literal_secrets(compose_env(load_compose()) + k8s_env(load_k8s())) == []


def test_the_k8s_secret_is_referenced_but_not_committed() -> None:
    docs = load_k8s()
    assert by_kind(docs, "Secret") == {}
    refs = {v["secretKeyRef"]["name"] for _, _, v in k8s_env(docs) if isinstance(v, dict)}
    assert refs == {"marketplace-secrets"}


def test_published_ports_bind_loopback_only() -> None:
    assert non_loopback_ports(load_compose()) == []


def test_every_marketplace_variable_is_a_settings_field() -> None:
    names = marketplace_names(
        COMPOSE_FILE.read_text(),
        compose_env(load_compose()) + k8s_env(load_k8s()),
        DOCKERFILE.read_text(),
    )
    assert len(names) >= 8
    assert unknown_settings(names) == []


@pytest.mark.parametrize("app", list(APPS))
def test_compose_environment_builds_production_settings(
    app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = load_compose()
    service = compose["services"][app]
    env = dict(settings_env(compose_env({"services": {app: service}})))
    settings = build_settings(monkeypatch, env)
    assert settings.environment == "production"
    assert settings.host == "0.0.0.0"
    assert settings.postgres_url and settings.redis_url and settings.opensearch_url
    if app in API_PORT_FIELD:
        port = getattr(settings, API_PORT_FIELD[app])
        assert f":{port}/health/ready" in str(service["healthcheck"]["test"])
        assert f"127.0.0.1:{port}:{port}" in service["ports"]


def test_deployments_have_probes_and_resources() -> None:
    docs = load_k8s()
    deployments = by_kind(docs, "Deployment")
    projectors = {name for name in load_compose()["services"] if name.startswith("projector-")}
    assert {"writeapi", "readapi"} | projectors <= deployments.keys()
    assert deployment_problems(docs) == []
    for name in ("writeapi", "readapi"):
        (container,) = containers(deployments[name])
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["args"] == APPS[name]


@pytest.mark.parametrize("name", ["writeapi", "readapi", "projector-product-detail"])
def test_k8s_environment_builds_production_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = load_k8s()
    configmaps = by_kind(docs, "ConfigMap")
    deployment = by_kind(docs, "Deployment")[name]
    (container,) = containers(deployment)
    env: Env = []
    for source in container.get("envFrom", []):
        data = configmaps[source["configMapRef"]["name"]]["data"]
        env.extend(("configmap", k, v) for k, v in data.items())
    env.extend(k8s_env([deployment]))
    settings = build_settings(monkeypatch, dict(settings_env(env)))
    assert settings.environment == "production"
    if name in API_PORT_FIELD:
        assert container["ports"][0]["containerPort"] == getattr(settings, API_PORT_FIELD[name])


def test_services_hpas_and_pdbs_point_at_the_api_deployments() -> None:
    docs = load_k8s()
    deployments = by_kind(docs, "Deployment")
    for name in ("writeapi", "readapi"):
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        service = by_kind(docs, "Service")[name]
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        target = by_kind(docs, "HorizontalPodAutoscaler")[name]["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        pdb = by_kind(docs, "PodDisruptionBudget")[name]["spec"]["selector"]["matchLabels"]
        assert pdb.items() <= labels.items()


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    files = {p.name for p in K8S_DIR.glob("*.y*ml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_dockerfile_is_non_root_and_bakes_in_no_secret() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


# The same checks on broken examples: each one can fail.

GOOD_DEPS = {store: {"condition": "service_healthy"} for store in STORES}


def test_checks_catch_missing_healthcheck_and_unhealthy_dependency() -> None:
    compose = {
        "services": {
            "a": {"healthcheck": {"test": ["CMD", "true"]}, "depends_on": list(STORES)},
            "b": {"healthcheck": {"disable": True}, "depends_on": GOOD_DEPS},
            "c": {"depends_on": {**GOOD_DEPS, "redis": {"condition": "service_started"}}},
        }
    }
    assert missing_healthchecks(compose) == ["b has no healthcheck", "c has no healthcheck"]
    assert len(unhealthy_dependencies(compose, ["a"])) == len(STORES)
    assert unhealthy_dependencies(compose, ["b"]) == []
    assert unhealthy_dependencies(compose, ["c"]) == [
        "c does not wait for redis to be service_healthy"
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POSTGRES_PASSWORD", "hunter2"),
        ("MARKETPLACE_JWT_SECRET", "${MARKETPLACE_JWT_SECRET:-fallback}"),
        ("MARKETPLACE_JWT_SECRET", "${MARKETPLACE_JWT_SECRET}"),
        ("API_TOKEN", None),
        ("SIGNING_KEY", {"configMapKeyRef": {"name": "c", "key": "k"}}),
        ("MARKETPLACE_POSTGRES_URL", "postgresql://app:hunter2@db/app"),
    ],
)
def test_literal_secret_check_catches(name: str, value: Any) -> None:
    assert literal_secrets([("here", name, value)]) != []


def test_literal_secret_check_accepts_required_interpolation_and_secret_refs() -> None:
    entries: Env = [
        ("a", "POSTGRES_PASSWORD", "${POSTGRES_PASSWORD:?set it}"),
        ("a", "MARKETPLACE_POSTGRES_URL", "postgresql://app:${POSTGRES_PASSWORD:?x}@db/app"),
        ("b", "MARKETPLACE_JWT_SECRET", {"secretKeyRef": {"name": "s", "key": "k"}}),
    ]
    assert literal_secrets(entries) == []


@pytest.mark.parametrize(
    "port", ["8000:8000", 8000, "0.0.0.0:8000:8000", "127.0.0.1:8000", {"target": 8000}]
)
def test_port_check_catches_ports_beyond_loopback(port: Any) -> None:
    assert non_loopback_ports({"services": {"a": {"ports": [port]}}}) != []


def test_settings_check_catches_an_unknown_variable() -> None:
    names = marketplace_names(
        "x: ${MARKETPLACE_JWT_SECRET:?s} ${MARKETPLACE_DB_URL:?s}",
        [("a", "MARKETPLACE_REDIS_URI", "redis://r")],
        "ENV MARKETPLACE_HOST=0.0.0.0 MARKETPLACE_LISTEN=1",
    )
    assert unknown_settings(names) == [
        "MARKETPLACE_DB_URL",
        "MARKETPLACE_LISTEN",
        "MARKETPLACE_REDIS_URI",
    ]


def test_deployment_check_catches_missing_probes_and_limits() -> None:
    container = {
        "name": "c",
        "ports": [{"name": "http", "containerPort": 8000}],
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": 9999}},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1"}},
    }
    doc = {
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }
    assert deployment_problems([doc]) == [
        "d/c readinessProbe probes a port the container does not open",
        "d/c has no livenessProbe",
        "d/c lacks cpu and memory limits",
    ]


@pytest.mark.parametrize(
    "dockerfile",
    [
        'FROM python:3.11-slim\nENTRYPOINT ["marketplace"]\n',
        'FROM python:3.11-slim\nUSER app\nFROM python:3.11-slim\nENTRYPOINT ["marketplace"]\n',
        'FROM python:3.11-slim\nUSER 0:0\nENTRYPOINT ["marketplace"]\n',
        'FROM python:3.11-slim\nUSER app\nENV A=1 \\\n  JWT_SECRET=x\nENTRYPOINT ["marketplace"]\n',
        'FROM python:3.11-slim\nUSER app\nARG DB_PASSWORD\nENTRYPOINT ["marketplace"]\n',
        'FROM python:3.12\nUSER app\nENTRYPOINT ["marketplace"]\n',
        "FROM python:3.11-slim\nUSER app\n",
    ],
)
def test_dockerfile_check_catches(dockerfile: str) -> None:
    assert dockerfile_problems(dockerfile) != []


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_app_command_is_one_the_cli_runs(name: str) -> None:
    args = APPS[name]
    parsed = build_parser().parse_args(args)
    assert parsed.command == args[0]
    if args[0] == "project":
        assert args[1] in PROJECTORS, f"no projection named {args[1]!r}"
