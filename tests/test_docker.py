"""docker/: checked statically (no Docker engine runs here): the compose file, the images, no committed secret."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[1] / "docker"
SERVICES = {"postgres", "redis", "s3", "airflow-init", "api-server", "scheduler", "dag-processor", "triggerer", "worker-cpu", "worker-gpu"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_has_every_service(compose):
    assert set(compose["services"]) == SERVICES


def test_workers_listen_on_their_queues_and_the_gpu_worker_reserves_a_gpu(compose):
    cpu, gpu = compose["services"]["worker-cpu"], compose["services"]["worker-gpu"]
    assert cpu["command"][:4] == ["celery", "worker", "--queues", "default"]
    assert gpu["command"][:4] == ["celery", "worker", "--queues", "gpu"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert gpu["build"]["dockerfile"] == "docker/Dockerfile.gpu"


def test_celery_executor_real_auth_manager_and_secrets_from_the_env_file(compose):
    env = compose["services"]["scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")  # not the development SimpleAuthManager
    for name, service in compose["services"].items():
        for key in service.get("environment") or {}:
            assert not re.search(r"PASSWORD|SECRET|FERNET|KEY_ID", key), f"{name} sets {key} inline"
        if name not in ("redis",):
            assert service.get("env_file") == [".env"], name
    assert not (DOCKER / ".env").exists()  # the real env file is never in the repository
    assert "docker/.env" in (DOCKER.parent / ".gitignore").read_text()


def test_workers_share_no_folder_and_the_workspace_is_on_the_s3_service(compose):
    """As tests/cluster/ runs it: workers share only the metadata DB and object storage."""
    env = compose["x-airflow"]["environment"]
    assert env["MMRECUN_WORKSPACE"].startswith("s3://") and env["MMRECUN_STORE"].startswith("s3://")
    assert env["MMRECUN_S3_ENDPOINT"] == "http://s3:8333" and env["MMRECUN_SCRATCH"].startswith("/tmp/")
    assert "runs" not in (compose.get("volumes") or {})
    for name, service in compose["services"].items():
        if name.startswith(("worker-", "scheduler", "api-server", "dag-processor", "triggerer")):
            assert not service.get("volumes"), f"{name} mounts {service.get('volumes')}"
    for name in ("Dockerfile.airflow", "Dockerfile.gpu"):
        text = (DOCKER / name).read_text()
        assert "MMRECUN_WORKSPACE" not in text and '".[airflow,cluster]"' in text


def test_celery_settings_and_pools_match_the_cluster_test(compose):
    env = compose["x-airflow"]["environment"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    example = (DOCKER / ".env.example").read_text()
    assert "AIRFLOW__CELERY__RESULT_BACKEND=db+postgresql" in example and "MMRECUN_GPU_WORKERS=1" in example
    assert int(env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"]) > 0
    init = compose["services"]["airflow-init"]["command"][-1]
    assert "airflow pools set mmrecun_registry 1" in init
    assert 'airflow pools set mmrecun_gpu "$${MMRECUN_GPU_WORKERS:-1}"' in init
    assert compose["services"]["worker-gpu"]["command"][4:6] == ["--concurrency", "1"]


@pytest.mark.parametrize("name", ["Dockerfile.airflow", "Dockerfile.gpu"])
def test_images_pin_their_bases_and_torch_and_run_unprivileged(name):
    text = (DOCKER / name).read_text()
    base = re.search(r"^FROM (\S+)", text, re.M).group(1)
    assert ":" in base and not base.endswith(":latest")
    assert '"torch==2.13.0"' in text and "USER airflow" in text and "USER root" not in text
    assert "COPY --chown=airflow:root dags /opt/airflow/dags" in text
    assert ".env" not in text.replace(".env.example", "")


def test_env_example_names_every_secret_the_stack_needs():
    names = {
        line.split("=", 1)[0] for line in (DOCKER / ".env.example").read_text().splitlines() if "=" in line and not line.startswith("#")
    }
    assert {"POSTGRES_PASSWORD", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AWS_SECRET_ACCESS_KEY"} <= names


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed: YAML checks only")
def test_docker_compose_config_accepts_the_file(tmp_path):
    """``docker-compose config`` validates the whole file against the compose schema (no engine needed)."""
    work = tmp_path / "docker"
    shutil.copytree(DOCKER, work)
    shutil.copy(work / ".env.example", work / ".env")
    out = subprocess.run(["docker-compose", "-f", str(work / "compose.yaml"), "config", "-q"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
