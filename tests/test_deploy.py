"""The deploy files, checked without Docker: parsed, and their commands run for real."""

import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError

ROOT = Path(__file__).resolve().parents[1]


def strict_yaml(text: str) -> Any:
    """YAML as Docker Compose reads it: a key given twice in one mapping is an error
    (PyYAML keeps the last one silently)."""
    return YAML(typ="safe", pure=True).load(text)


def _compose() -> dict:  # type: ignore[type-arg]
    return strict_yaml((ROOT / "deploy" / "compose.yaml").read_text())


def test_the_strict_reader_refuses_a_key_given_twice() -> None:
    twice = "volumes:\n  objects:\n  pgdata:\n  objects:\n"
    assert yaml.safe_load(twice) == {"volumes": {"objects": None, "pgdata": None}}
    with pytest.raises(DuplicateKeyError):
        strict_yaml(twice)


def test_compose_follows_the_compose_specification() -> None:
    """Against the Compose specification's own JSON schema (as check-jsonschema ships it):
    unknown keys, wrong shapes and wrong types are errors here, as for `docker compose`."""
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    validator = Draft7Validator(schema)
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors]
    broken = _compose()
    broken["services"]["web"]["restart"] = ["always"]  # a list where a word goes
    assert list(validator.iter_errors(broken))


def test_compose_has_every_process_of_the_design() -> None:
    services = _compose()["services"]
    assert set(services) == {
        "postgres",
        "postgres-replica",
        "pgbouncer",
        "redis",
        "clamd",
        "minio",
        "meilisearch",
        "migrate",
        "nginx",
        "web",
        "worker",
    }
    # nginx is the door, with the shipped configuration; two of each process behind it.
    assert services["nginx"]["ports"] == ["${PUBLISH_HOST:-127.0.0.1}:3000:8080"]
    for mount in services["nginx"]["volumes"]:
        assert (ROOT / "deploy" / mount.split(":")[0]).is_file(), mount
    assert "ports" not in services["web"]
    assert services["web"]["deploy"]["replicas"] == services["worker"]["deploy"]["replicas"] == 2
    # clamd scans every upload; MinIO runs when asked for, and the app's S3 settings come
    # from the same variables.
    assert services["web"]["environment"]["CLAMD_URL"] == "tcp://clamd:3310"
    assert services["minio"]["profiles"] == ["minio"]
    env = services["worker"]["environment"]
    assert env["AWS_ACCESS_KEY_ID"] == "${MINIO_ROOT_USER:-}"
    assert services["minio"]["environment"]["MINIO_ROOT_USER"] == "${MINIO_ROOT_USER:-}"
    # Meilisearch runs only when asked for (its profile), and then the app uses it.
    assert services["meilisearch"]["profiles"] == ["meilisearch"]
    assert services["web"]["environment"]["MEILI_URL"] == "${MEILI_URL:-}"
    for name in ("migrate", "web", "worker"):
        env = services[name]["environment"]
        assert env["ENVIRONMENT"] == "production"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_migrate_command_runs(clean: None) -> None:
    command = _compose()["services"]["migrate"]["command"]
    assert command[:2] == ["python", "-m"]
    result = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Database is up to date." in result.stdout
    assert "Search index ready" in result.stdout


def test_every_named_volume_is_declared() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            name = volume.split(":")[0]
            assert name in declared or name.startswith(("/", ".")), name


def test_worker_command_runs_the_worker_that_outlives_redis() -> None:
    command = _compose()["services"]["worker"]["command"]
    assert command[:3] == ["python", "-m", "jobs.run"]
    code = (
        "import jobs.run, jobs.worker; s = jobs.worker.WorkerSettings; "
        "assert s.functions and s.redis_settings; assert callable(jobs.run.main)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_copies_every_package_and_runs_prod_mode() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    for package in ("app", "backend", "components", "jobs", "state", "assets"):
        assert f"COPY {package} {package}" in text
    assert '"--env", "prod"' in text


def test_containers_listen_on_their_interface_and_publish_on_loopback() -> None:
    # Outside a container the app listens on 127.0.0.1; inside, the published port reaches
    # only what listens on the container's own interface.
    assert "HOST=0.0.0.0" in (ROOT / "deploy" / "Dockerfile").read_text()
    services = _compose()["services"]
    assert services["web"]["environment"]["HOST"] == "0.0.0.0"
    # Only nginx publishes a port (on the host's loopback by default).
    assert services["nginx"]["ports"] == ["${PUBLISH_HOST:-127.0.0.1}:3000:8080"]
    # The web container keeps every other setting of the shared block.
    assert services["web"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")
    for name in ("postgres", "redis", "meilisearch", "web", "worker", "migrate"):
        assert "ports" not in services[name], name  # reached over the compose network only


def test_compose_restarts_what_dies_and_redis_keeps_its_queue() -> None:
    services = _compose()["services"]
    for name in (
        "postgres",
        "postgres-replica",
        "pgbouncer",
        "clamd",
        "minio",
        "redis",
        "meilisearch",
        "nginx",
        "web",
        "worker",
    ):
        assert services[name]["restart"] == "unless-stopped", name
    assert "restart" not in services["migrate"]  # it runs once
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    assert command[command.index("--save") + 1 : command.index("--save") + 3] == ["300", "1"]


def test_compose_archives_the_log_as_the_launcher_does_and_backs_up() -> None:
    from backend.embedded import WalArchive

    compose = _compose()
    postgres = compose["services"]["postgres"]
    settings = dict(arg.split("=", 1) for arg in postgres["command"][5:] if arg != "-c")
    wanted = WalArchive(Path("/backups/wal"), 60).server_settings()
    assert settings == wanted
    assert "backups:/backups" in postgres["volumes"]
    library = compose["x-library"]
    assert library["environment"]["BACKUP_DIR"] == "/backups"
    assert "backups:/backups" in library["volumes"]
    # pg_basebackup connects over the network with a replication connection.
    init = ROOT / "deploy" / "postgres" / "replication.sh"
    assert (
        f"./postgres/{init.name}:/docker-entrypoint-initdb.d/{init.name}:ro"
        in (postgres["volumes"])
    )
    assert "host replication ${POSTGRES_USER} all scram-sha-256" in init.read_text()
    assert os.access(init, os.X_OK)


def test_compose_pools_connections_and_reads_from_the_replica() -> None:
    import configparser

    compose = _compose()
    env = compose["x-library"]["environment"]
    assert env["DATABASE_URL"].endswith("@pgbouncer:6432/library")
    assert env["DATABASE_REPLICA_URL"].endswith("@pgbouncer:6432/library_replica")
    assert env["DATABASE_DIRECT_URL"].endswith("@postgres/library")
    assert env["DATABASE_PGBOUNCER"] == "true"
    ini = configparser.ConfigParser()
    ini.read(ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini")
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert ini["databases"]["library"].startswith("host=postgres ")
    assert ini["databases"]["library_replica"].startswith("host=postgres-replica ")
    bouncer = compose["services"]["pgbouncer"]
    assert bouncer["user"] == "postgres"  # PgBouncer refuses to run as root
    for mount in bouncer["volumes"]:
        assert (ROOT / "deploy" / mount.split(":")[0]).is_file(), mount
    replica = compose["services"]["postgres-replica"]
    script = ROOT / "deploy" / "postgres" / "replica.sh"
    assert os.access(script, os.X_OK)
    assert "pg_basebackup -h postgres" in script.read_text() and " -R " in script.read_text()
    assert replica["entrypoint"] == ["/usr/local/bin/replica.sh"]
    # The settings the library reads are real settings.
    from backend.settings import Settings

    for name in ("DATABASE_REPLICA_URL", "DATABASE_DIRECT_URL", "DATABASE_PGBOUNCER"):
        assert name.lower() in Settings.model_fields


KUBERNETES = ROOT / "deploy" / "kubernetes"


def _manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        docs += [d for d in YAML(typ="safe", pure=True).load_all(path.read_text()) if d]
    return docs


def _kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _manifests() if d["kind"] == kind}


def test_kubernetes_manifests_are_valid_resources() -> None:
    """Each document against the Kubernetes API's own schemas (kubernetes-validate, the
    newest version it knows; strict: an unknown field is an error)."""
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    docs = _manifests()
    assert {d["kind"] for d in docs} >= {
        "ConfigMap",
        "Secret",
        "Job",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Ingress",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    broken = _kind("Deployment")["library-web"]
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def test_kubernetes_manifests_hold_together() -> None:
    """What the schemas cannot see: every autoscaler and disruption budget names a
    deployment there is; every container reads the config and secret there are, whose keys
    are settings the app has; the probes ask things that answer; the migration is compose's."""
    from backend.settings import Settings

    deployments = _kind("Deployment")
    assert set(deployments) == {"library-web", "library-worker"}
    for hpa in _kind("HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    labels = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for d in deployments.values()
    }
    for budget in _kind("PodDisruptionBudget").values():
        assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] in labels
    # The worker scales on the queue's depth: a metric the app's /metrics page has.
    external = [
        m["external"]["metric"]["name"]
        for m in _kind("HorizontalPodAutoscaler")["library-worker"]["spec"]["metrics"]
        if m["type"] == "External"
    ]
    metrics_source = (ROOT / "backend" / "operations" / "metrics.py").read_text()
    assert external and all(f'"{name}"' in metrics_source for name in external)

    config, secret = _kind("ConfigMap")["library-config"], _kind("Secret")["library-secrets"]
    known = {name.upper() for name in Settings.model_fields} | {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "REFLEX_REDIS_URL",
    }
    for key in [*config["data"], *secret["stringData"]]:
        assert key in known, f"{key} is no setting of the app"
    assert config["data"]["SEARCH_ENGINE"] == "postgres"  # one index for every pod
    pods = [d["spec"]["template"]["spec"] for d in deployments.values()]
    pods.append(_kind("Job")["library-migrate"]["spec"]["template"]["spec"])
    for pod in pods:
        for container in pod["containers"]:
            sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
            assert sources == {"library-config", "library-secrets"}
    web = deployments["library-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready?worker=false"
    assert web["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    worker = deployments["library-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"] == _compose()["services"]["worker"]["command"]
    assert worker["livenessProbe"]["exec"]["command"] == [
        "python",
        "-m",
        "backend.cli",
        "worker-alive",
    ]  # fmt: skip  (tested in tests/backend/test_gateway.py)
    migrate = _kind("Job")["library-migrate"]["spec"]["template"]["spec"]["containers"][0]
    assert migrate["command"] == _compose()["services"]["migrate"]["command"]


def test_the_image_installs_what_the_one_command_install_does() -> None:
    """Every Debian package scripts/bootstrap.sh installs for the app (OCR languages,
    LibreOffice, …) is in deploy/Dockerfile's apt-get install."""
    import re

    def packages(text: str, start: str) -> set[str]:
        block = text[text.index(start) :]
        lines = []
        for line in block.splitlines():
            lines.append(line)
            if not line.rstrip().endswith("\\"):
                break
        words = " ".join(lines).replace("\\", " ").split()
        return {w for w in words if re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", w)} - {
            "install_debian",
            "apt-get",
            "install",
            "run",
        }

    wanted = packages((ROOT / "scripts" / "bootstrap.sh").read_text(), "install_debian libmagic1")
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    have = packages(dockerfile, "apt-get install")
    assert "tesseract-ocr-kor" in wanted and "python3-uno" in wanted
    assert wanted <= have, sorted(wanted - have)
