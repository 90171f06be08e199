"""The deploy manifests (Dockerfile, docker-compose.yml, infra/deploy/k8s) checked without Docker.

Each check is a function that returns the problems it finds, run once on the real files and
once on a small broken example, so every assertion is shown to be able to fail.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from infra.settings import PREFIX, MailSettings, Settings, env_names
from marketplace.cli import command as cli_command
from marketplace.registry import PROCESSES, Kind

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "infra" / "deploy" / "k8s"

SETTINGS = env_names()
"""Every variable a setting reads."""
STORES = ("kurrentdb", "postgres", "redis", "opensearch")
APPS = {p.deployment: list(p.command) for p in PROCESSES}
"""Each process of the registry, by the name its compose service and k8s deployment have."""
STORELESS = {p.deployment for p in PROCESSES if p.kind is Kind.SANDBOX}
"""Apps that use no store: they neither wait for the stores nor need production settings."""
STORE_APPS = [app for app in APPS if app not in STORELESS]
IMAGE = "marketplace"
API_PORT_FIELD = {
    "writeapi": "write_api_port",
    "readapi": "read_api_port",
    "auditapi": "audit_api_port",
}
LOAD_TEST = re.compile(r"\bloadtest\b|\blocust\b|\bmatplotlib\b", re.IGNORECASE)
"""The load test, its extra and the extra's packages: none of them belongs in the image."""
AUDIT_BLOBS = ("auditapi", "audit-checkpoints")
"""Services that keep (audit-checkpoints) or read (auditapi) the signed audit checkpoints."""
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
    return sorted(n for n in names if n.upper() not in SETTINGS)


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
    return problems + load_test_problems(steps)


def load_test_problems(steps: list[tuple[str, str]]) -> list[str]:
    """The image neither copies the load test (nor the whole tree) nor installs it or its extra."""
    problems = []
    for keyword, rest in steps:
        sources = rest.split()[:-1] if keyword in ("COPY", "ADD") else []
        sources = [s for s in sources if not s.startswith("--")]
        if any(LOAD_TEST.search(s) or s.strip("./") == "" for s in sources):
            problems.append(f"the image copies the load test: {keyword} {rest}")
        if keyword == "RUN" and LOAD_TEST.search(rest):
            problems.append(f"the image installs the load test: RUN {rest}")
    return problems


def runtime_dependencies() -> list[str]:
    """What `pip install .` (the image's install) brings: pyproject's runtime dependencies."""
    project: dict[str, Any] = tomllib.loads(PYPROJECT.read_text())["project"]
    return list(project["dependencies"])


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


def parse_cli(args: Any) -> SimpleNamespace | None:
    """args as the real CLI parses them (the command, then its parameters), or None when it
    refuses them."""
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return None
    group = cli_command()
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            ctx = group.make_context("marketplace", list(args))
            name, command, rest = group.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
            assert name is not None and command is not None
            params = command.make_context(name, rest, parent=ctx).params
            return SimpleNamespace(command=name, **params)
    except Exception:
        return None


def command_problems(where: str, args: Any) -> list[str]:
    """Why args are not a process of the registry as the CLI runs it."""
    parsed = parse_cli(args)
    if parsed is None:
        return [f"{where}: the CLI refuses {args!r}"]
    name = parsed.command
    words = (name, parsed.name) if name == "project" else (name,)
    if words not in {p.command for p in PROCESSES}:
        return [f"{where}: {' '.join(words)!r} is not a process of the registry"]
    return []


def image_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run our image (built from the Dockerfile)."""
    return {
        name: service
        for name, service in compose.get("services", {}).items()
        if "build" in service or str(service.get("image", "")).startswith(f"{IMAGE}:")
    }


def image_containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(Deployment/container, container) for every k8s container that runs our image."""
    for doc in (d for d in docs if d.get("kind") == "Deployment"):
        for c in containers(doc):
            if str(c.get("image", "")).split(":")[0] == IMAGE:
                yield f"{doc['metadata']['name']}/{c['name']}", c


def service_env(service: dict[str, Any]) -> dict[str, Any]:
    return {name: value for _, name, value in compose_env({"services": {"s": service}})}


def waits_healthy(service: dict[str, Any], other: str) -> bool:
    depends = service.get("depends_on") or {}
    return (
        isinstance(depends, dict)
        and (depends.get(other) or {}).get("condition") == "service_healthy"
    )


def volume_mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target -> (source, read_only) for a service's volumes, short or long syntax."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = str(volume.get("source")), str(volume.get("target"))
            read_only = bool(volume.get("read_only"))
        else:
            source, target, *mode = str(volume).split(":")
            read_only = "ro" in ",".join(mode).split(",")
        mounts[target] = (source, read_only)
    return mounts


def compose_wiring_problems(compose: dict[str, Any]) -> list[str]:
    """The checkout worker reaches the gateway, notify the mail catcher, labels reach readapi."""
    services = compose.get("services", {})
    problems = []

    checkout = services.get("checkout", {})
    url = urlsplit(str(service_env(checkout).get(f"{PREFIX}PAYMENT_GATEWAY_URL") or ""))
    gateway = services.get(url.hostname or "")
    parsed = parse_cli(gateway.get("command")) if gateway else None
    if gateway is None or parsed is None or parsed.command != "gateway":
        problems.append(f"checkout calls the gateway at {url.geturl()!r}, which no service runs")
    else:
        if url.port != parsed.port:
            problems.append(f"checkout calls port {url.port}, the gateway listens on {parsed.port}")
        if f"127.0.0.1:{parsed.port}/healthz" not in str(gateway.get("healthcheck")):
            problems.append(f"{url.hostname} is not checked on its own /healthz")
        if not waits_healthy(checkout, url.hostname or ""):
            problems.append(f"checkout does not wait for {url.hostname} to be service_healthy")

    notify = services.get("notify", {})
    smtp_host = str(service_env(notify).get(f"{PREFIX}SMTP_HOST"))
    if smtp_host not in services:
        problems.append(f"notify sends mail to {smtp_host!r}, which is no service")
    elif not waits_healthy(notify, smtp_host):
        problems.append(f"notify does not wait for {smtp_host} to be service_healthy")

    sources = set()
    audit = [(name, name == "audit-checkpoints") for name in AUDIT_BLOBS if name in services]
    for name, writes in (("labels", True), ("readapi", False), *audit):
        service = services.get(name, {})
        blob_dir = str(service_env(service).get(f"{PREFIX}BLOB_DIR"))
        source, read_only = volume_mounts(service).get(blob_dir, ("", False))
        if source not in (compose.get("volumes") or {}):
            problems.append(f"{name}: {PREFIX}BLOB_DIR {blob_dir!r} is not on a named volume")
        elif writes and read_only:
            problems.append(f"{name} mounts the blob volume read-only")
        sources.add(source)
    if len(sources) != 1:
        problems.append(f"the blob store's services use different volumes: {sorted(sources)}")
    return problems


def k8s_wiring_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Gateway URL, SMTP relay and blob store from the ConfigMap; their keys from the Secret."""
    config = (by_kind(docs, "ConfigMap").get("marketplace-config") or {}).get("data") or {}
    deployments = by_kind(docs, "Deployment")
    problems = []
    for name in ("PAYMENT_GATEWAY_URL", "SMTP_HOST", "SMTP_PORT"):
        if not config.get(f"{PREFIX}{name}"):
            problems.append(f"the ConfigMap does not set {PREFIX}{name}")
    if config.get(f"{PREFIX}BLOB_STORE") != "s3":
        problems.append(f"the ConfigMap does not set {PREFIX}BLOB_STORE to s3")
    needs = {
        "labels": ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"),
        "readapi": ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"),
        "auditapi": ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "AUDIT_VERIFY_KEY"),
        "audit-checkpoints": ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "AUDIT_SIGNING_KEY"),
        "notify": ("SMTP_USERNAME", "SMTP_PASSWORD"),
    }
    for deployment, names in needs.items():
        env = {n: v for _, n, v in k8s_env([deployments.get(deployment, {})])}
        for name in names:
            if "secretKeyRef" not in (env.get(f"{PREFIX}{name}") or {}):
                problems.append(f"{deployment} does not get {PREFIX}{name} from the Secret")
    for where, name, _ in k8s_env(list(deployments.values())):
        if name == f"{PREFIX}PAYMENT_GATEWAY_URL":
            problems.append(f"{where} overrides the ConfigMap's gateway URL")

    url = urlsplit(str(config.get(f"{PREFIX}PAYMENT_GATEWAY_URL") or ""))
    service = by_kind(docs, "Service").get(url.hostname or "")
    if service is not None:  # the in-cluster sandbox: it must answer on that port
        ports = {p["port"]: p["targetPort"] for p in service["spec"]["ports"]}
        selector = service["spec"]["selector"].items()
        backends = [
            d
            for d in deployments.values()
            if selector <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        if url.port not in ports or len(backends) != 1:
            problems.append(f"the gateway URL {url.geturl()!r} reaches no single Deployment")
        else:
            (container,) = containers(backends[0])
            parsed = parse_cli(container.get("args"))
            opened = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            if parsed is None or parsed.command != "gateway":
                problems.append(f"{backends[0]['metadata']['name']} does not run the gateway")
            elif opened.get(ports[url.port]) != parsed.port:
                problems.append(f"the gateway listens on {parsed.port}, not {ports[url.port]}")
    return problems


def metrics_port_problems(docs: list[dict[str, Any]]) -> list[str]:
    """A container that opens a `metrics` port serves metrics there (--metrics-port)."""
    problems = []
    for where, container in image_containers(docs):
        opened = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        parsed = parse_cli(container.get("args"))
        served = getattr(parsed, "metrics_port", 0) or None
        if opened.get("metrics") != served:
            problems.append(f"{where} opens metrics port {opened.get('metrics')}, serves {served}")
    return problems


# The real files.


def test_compose_has_the_stores_and_the_app_services_built_from_the_dockerfile() -> None:
    services = load_compose()["services"]
    assert set(STORES) | set(APPS) <= services.keys()
    for app, command in APPS.items():
        assert services[app]["build"]["context"] == "."
        assert services[app]["command"][: len(command)] == command


def test_compose_and_k8s_run_exactly_the_processes_of_the_registry() -> None:
    """What `marketplace up` runs, the deployments run, once each, and nothing else."""
    wanted = sorted(p.command for p in PROCESSES)

    def runs(args: list[str]) -> tuple[str, ...]:
        return tuple(args[:2] if args[0] == "project" else args[:1])

    assert sorted(runs(s["command"]) for s in image_services(load_compose()).values()) == wanted
    assert sorted(runs(c["args"]) for _, c in image_containers(load_k8s())) == wanted


def test_every_compose_service_has_a_healthcheck() -> None:
    assert missing_healthchecks(load_compose()) == []


def test_app_services_wait_for_healthy_stores() -> None:
    assert unhealthy_dependencies(load_compose(), STORE_APPS) == []


def test_compose_wires_the_gateway_the_mail_catcher_and_the_blob_volume() -> None:
    assert compose_wiring_problems(load_compose()) == []


def test_the_sandbox_gateway_needs_no_store_and_no_secret() -> None:
    gateway = load_compose()["services"]["payment-gateway"]
    assert not gateway.get("depends_on")
    assert not any(SENSITIVE.search(name) or "URL" in name for name in service_env(gateway))


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


@pytest.mark.parametrize("app", STORE_APPS)
def test_compose_environment_builds_production_settings(
    app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = load_compose()
    service = compose["services"][app]
    env = dict(settings_env(compose_env({"services": {app: service}})))
    settings = build_settings(monkeypatch, env)
    assert settings.environment == "production"
    assert settings.http.host == "0.0.0.0"
    assert settings.postgres.url and settings.redis.url and settings.opensearch.url
    if app in API_PORT_FIELD:
        port = getattr(settings.http, API_PORT_FIELD[app])
        assert f":{port}/health/ready" in str(service["healthcheck"]["test"])
        assert f"127.0.0.1:{port}:{port}" in service["ports"]


def test_deployments_have_probes_and_resources() -> None:
    docs = load_k8s()
    deployments = by_kind(docs, "Deployment")
    assert set(APPS) <= deployments.keys()
    assert deployment_problems(docs) == []
    for name in API_PORT_FIELD:
        (container,) = containers(deployments[name])
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["args"] == APPS[name]
    (gateway,) = containers(deployments["payment-gateway"])
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("name", sorted(APPS))
def test_k8s_runs_what_compose_runs(name: str) -> None:
    """Same command as in compose; k8s may add options (workers serve --metrics-port)."""
    (container,) = containers(by_kind(load_k8s(), "Deployment")[name])
    assert container["args"][: len(APPS[name])] == APPS[name]


def test_k8s_workers_serve_metrics_on_the_port_they_open() -> None:
    assert metrics_port_problems(load_k8s()) == []


def test_k8s_takes_gateway_mail_and_blob_settings_from_the_configmap_and_secret() -> None:
    assert k8s_wiring_problems(load_k8s()) == []


@pytest.mark.parametrize("name", STORE_APPS)
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
    assert settings.payments.gateway_url and settings.blobs.store == "s3"
    assert settings.mail.host != MailSettings.model_fields["host"].default
    if name in API_PORT_FIELD:
        assert container["ports"][0]["containerPort"] == getattr(
            settings.http, API_PORT_FIELD[name]
        )


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


def test_the_image_carries_neither_the_load_test_nor_locust_nor_matplotlib() -> None:
    assert load_test_problems(instructions(DOCKERFILE.read_text())) == []
    assert [d for d in runtime_dependencies() if LOAD_TEST.search(d)] == []
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["loadtest"]
    assert {re.split(r"[=<>~\[ ]", d)[0].lower() for d in extra} >= {"locust", "matplotlib"}


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
        *(
            f"FROM python:3.11-slim AS build\n{step}\n"
            'FROM python:3.11-slim\nUSER app\nENTRYPOINT ["marketplace"]\n'
            for step in (
                'RUN pip install ".[loadtest]"',
                "RUN pip install -e .[test,loadtest]",
                "RUN pip install locust==2.47.0",
                "RUN pip install . matplotlib",
                "COPY loadtest ./loadtest",
                "COPY --chown=app . ./",
            )
        ),
    ],
)
def test_dockerfile_check_catches(dockerfile: str) -> None:
    assert dockerfile_problems(dockerfile) != []


def test_every_app_command_is_one_the_cli_runs() -> None:
    compose = image_services(load_compose())
    containers_ = dict(image_containers(load_k8s()))
    assert set(APPS) <= compose.keys()
    assert len(containers_) >= len(APPS)
    problems = [p for name, s in compose.items() for p in command_problems(name, s["command"])]
    problems += [p for where, c in containers_.items() for p in command_problems(where, c["args"])]
    assert problems == []


@pytest.mark.parametrize(
    "args",
    [
        ["project", "no-such-view"],
        ["serve"],
        ["checkout", "--port", "1"],
        ["gateway", "--port", "http"],
        ["token", "--role", "admin", "--sub", "x"],
        "checkout",
        None,
    ],
)
def test_command_check_catches(args: Any) -> None:
    assert command_problems("here", args) != []


def test_command_check_accepts_every_process() -> None:
    for args in [*APPS.values(), ["labels", "--metrics-port", "9100"], ["notify"]]:
        assert command_problems("here", args) == []


def broken_compose() -> dict[str, Any]:
    return {
        "services": {
            "checkout": {
                "environment": {f"{PREFIX}PAYMENT_GATEWAY_URL": "http://gw:9000"},
                "depends_on": {"gw": {"condition": "service_started"}},
            },
            "gw": {
                "command": ["gateway", "--port", "8010"],
                "healthcheck": {"test": ["CMD", "true"]},
            },
            "notify": {"environment": [f"{PREFIX}SMTP_HOST=smtp.example.com"]},
            "labels": {
                "environment": {f"{PREFIX}BLOB_DIR": "/blobs"},
                "volumes": [
                    {"type": "volume", "source": "b", "target": "/blobs", "read_only": True}
                ],
            },
            "readapi": {"environment": {f"{PREFIX}BLOB_DIR": "/blobs"}, "volumes": ["c:/blobs:ro"]},
        },
        "volumes": {"b": None, "c": None},
    }


def test_compose_wiring_check_catches() -> None:
    assert compose_wiring_problems(broken_compose()) == [
        "checkout calls port 9000, the gateway listens on 8010",
        "gw is not checked on its own /healthz",
        "checkout does not wait for gw to be service_healthy",
        "notify sends mail to 'smtp.example.com', which is no service",
        "labels mounts the blob volume read-only",
        "the blob store's services use different volumes: ['b', 'c']",
    ]
    compose = broken_compose()
    compose["services"]["gw"]["command"] = ["serve-write"]
    del compose["services"]["readapi"]["volumes"]
    problems = compose_wiring_problems(compose)
    assert "checkout calls the gateway at 'http://gw:9000', which no service runs" in problems
    assert f"readapi: {PREFIX}BLOB_DIR '/blobs' is not on a named volume" in problems


def test_k8s_wiring_and_metrics_checks_catch() -> None:
    docs = load_k8s()
    for doc in docs:
        if doc.get("kind") == "ConfigMap":
            doc["data"][f"{PREFIX}BLOB_STORE"] = "local"
            del doc["data"][f"{PREFIX}SMTP_HOST"]
        if doc.get("kind") == "Service" and doc["metadata"]["name"] == "payment-gateway":
            doc["spec"]["ports"][0]["port"] = 9999
        for c in containers(doc):
            if c["name"] == "notify":
                c["env"] = [e for e in c["env"] if e["name"] != f"{PREFIX}SMTP_PASSWORD"]
                c["env"].append({"name": f"{PREFIX}PAYMENT_GATEWAY_URL", "value": "http://x"})
            if c["name"] == "labels":
                c["args"] = ["labels"]
    assert k8s_wiring_problems(docs) == [
        f"the ConfigMap does not set {PREFIX}SMTP_HOST",
        f"the ConfigMap does not set {PREFIX}BLOB_STORE to s3",
        f"notify does not get {PREFIX}SMTP_PASSWORD from the Secret",
        "Deployment/notify/notify overrides the ConfigMap's gateway URL",
        "the gateway URL 'http://payment-gateway:8010' reaches no single Deployment",
    ]
    assert metrics_port_problems(docs) == ["labels/labels opens metrics port 9100, serves None"]
