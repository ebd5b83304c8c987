"""Airflow 3.3 with the CeleryExecutor on one machine: metadata DB and Celery results on PostgreSQL, broker Redis,
inputs, store and run workspace on the S3 test server; api-server, scheduler, dag-processor, triggerer and two
Celery workers (queue ``default``, queue ``gpu``), each worker with its own AIRFLOW_HOME, scratch folder and
hostname, and no folder in common with the other.

Switches (environment): ``MMRECUN_CLUSTER_WORKSPACE`` = ``s3`` (``s3://<bucket>/runs``, the default) or ``local``
(one folder both workers share: only for code whose steps read the run directory from a local path);
``MMRECUN_GPU_WORKERS`` sizes the pool ``mmrecun_gpu`` (default 1); ``MMRECUN_CLUSTER_HEARTBEAT_TIMEOUT`` (s, default
45) is the scheduler's ``task_instance_heartbeat_timeout``: a task whose worker is gone fails after it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet

from tests.cluster.services import Processes, free_port, start_postgres, start_redis, start_s3
from tests.s3_server import CREDENTIALS

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUCKET = "mmrecun"
GPU_POOL = "mmrecun_gpu"
REGISTRY_POOL = "mmrecun_registry"
WORKERS = {"worker-default": "default", "worker-gpu": "gpu"}
USER = "admin"


class Cluster:
    """The running cluster under ``root``: :meth:`up` starts it, :meth:`down` stops everything by PID."""

    def __init__(self, root: Path, workspace: str | None = None):
        self.root = root
        self.procs = Processes(root)
        self.workspace_mode = workspace or os.environ.get("MMRECUN_CLUSTER_WORKSPACE", "s3")
        self.password = secrets.token_hex(12)
        self.api_port = free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self._token = None

    # --- the services -----------------------------------------------------------------------------------------
    def up(self) -> None:
        self.db = start_postgres(self.procs)
        self.broker = start_redis(self.procs)
        self.s3 = start_s3(self.procs)
        self.store = f"s3://{BUCKET}/store"
        self.workspace = f"s3://{BUCKET}/runs" if self.workspace_mode == "s3" else str(self.root / "shared-workspace")
        self.env = self._env()
        self.s3_client().create_bucket(Bucket=BUCKET)
        self.airflow("db", "migrate")
        (self.root / "airflow").mkdir(exist_ok=True)
        (self.root / "airflow" / "passwords.json").write_text(json.dumps({USER: self.password}))
        self.procs.start("api-server", [str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
                         env=self.env, port=self.api_port, timeout=240)  # fmt: skip
        for name in ("scheduler", "dag-processor", "triggerer"):
            self.procs.start(name, [str(BIN / "airflow"), name], env=self.env)
        for name in WORKERS:
            self.start_worker(name)
        self.request("POST", "/api/v2/pools", {"name": REGISTRY_POOL, "slots": 1, "description": "runs that touch one model registry"})
        gpus = int(os.environ.get("MMRECUN_GPU_WORKERS", "1"))
        self.request("POST", "/api/v2/pools", {"name": GPU_POOL, "slots": gpus, "description": "one slot per gpu-queue worker"})
        for name in WORKERS:
            self.procs.wait_for(name, lambda name=name: " ready." in self.procs.tail(name, 400), 240, "'ready' line")

    def down(self) -> dict:
        """Stop everything; returns :meth:`Processes.leftovers` (empty lists when nothing is left)."""
        self.procs.stop_all()
        return self.procs.leftovers()

    def _env(self) -> dict:
        db = self.db.replace("postgresql://", "postgresql+psycopg2://")
        settings = {
            "CORE__EXECUTOR": "CeleryExecutor",
            "CORE__DAGS_FOLDER": str(REPO / "dags"),
            "CORE__LOAD_EXAMPLES": "False",
            "CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "CORE__HOSTNAME_CALLABLE": "tests.cluster.hostname.hostname",
            "CORE__EXECUTION_API_SERVER_URL": f"{self.api}/execution/",
            "CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.root / "airflow" / "passwords.json"),
            "DATABASE__SQL_ALCHEMY_CONN": db,
            "CELERY__BROKER_URL": self.broker,
            "CELERY__RESULT_BACKEND": f"db+{db}",
            "CELERY__WORKER_CONCURRENCY": "1",
            "API__BASE_URL": self.api,
            "API__WORKERS": "1",
            "API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": os.environ.get("MMRECUN_CLUSTER_HEARTBEAT_TIMEOUT", "45"),
            "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        }
        connection = {"conn_type": "aws", "login": "testing", "password": "testing",
                      "extra": {"region_name": "us-east-1", "endpoint_url": self.s3}}  # fmt: skip
        return {
            **os.environ,
            **{f"AIRFLOW__{k}": v for k, v in settings.items()},
            **CREDENTIALS,
            "AIRFLOW_HOME": str(self.root / "airflow"),
            "AIRFLOW_CONN_MMRECUN_S3": json.dumps(connection),
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "PYTHONPATH": str(REPO),
            "MMRECUN_WORKER_HOSTNAME": "controller",
            "MMRECUN_WORKSPACE": self.workspace,
            "MMRECUN_STORE": self.store,
            "MMRECUN_S3_ENDPOINT": self.s3,
            "MMRECUN_DATA": f"s3://{BUCKET}/data",
            "MMRECUN_REQUESTS": f"s3://{BUCKET}/requests",
        }

    def start_worker(self, name: str) -> None:
        """A Celery worker on its queue, with a home, a scratch folder and a log-server port of its own."""
        home = self.root / "workers" / name
        (home / "scratch").mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "AIRFLOW_HOME": str(home / "airflow"),
            "MMRECUN_SCRATCH": str(home / "scratch"),
            "MMRECUN_WORKER_HOSTNAME": name,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        queue = WORKERS[name]
        argv = [str(BIN / "airflow"), "celery", "worker", "--queues", queue, "--concurrency", "1"]
        argv += ["--celery-hostname", f"{name}@mmrecun", "--pid", str(home / "worker.pid")]
        log = self.root / f"{name}.log"
        if log.exists():
            log.rename(log.with_suffix(f".{int(time.time())}.log"))
        self.procs.start(name, argv, env=env, cwd=home)  # a relative path written by a task stays this worker's own

    def airflow(self, *args: str) -> str:
        out = subprocess.run([str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True, cwd=self.root)
        if out.returncode:
            raise RuntimeError(f"airflow {' '.join(args)}: {out.stderr[-3000:]}")
        return out.stdout

    def s3_client(self):
        from tasks.storage.s3 import s3_client

        os.environ.update({k: self.env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
        return s3_client(self.s3)

    def upload(self, folder: Path, prefix: str) -> str:
        client = self.s3_client()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder).as_posix()}")
        return f"s3://{BUCKET}/{prefix}"

    # --- the REST API -----------------------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            body = json.dumps({"username": USER, "password": self.password}).encode()
            req = urllib.request.Request(f"{self.api}/auth/token", body, {"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, timeout=60) as response:
                self._token = json.loads(response.read())["access_token"]
        return self._token

    def request(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"}
        req = urllib.request.Request(f"{self.api}{path}", data, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return json.loads(response.read() or "null")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')[:2000]}") from None

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> None:
        """Until the dag-processor has parsed ``dag_id``; then unpause it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.request("GET", f"/api/v2/dags/{dag_id}")
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{dag_id} not parsed after {timeout} s: {self.procs.tail('dag-processor')}") from None
                time.sleep(3)
        self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str, conf: dict) -> str:
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": logical_date, "conf": conf})
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 1200) -> str:
        deadline = time.monotonic() + timeout
        while (state := self.run_state(dag_id, run_id)) not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{dag_id} {run_id} still {state} after {timeout} s: {self.task_instances(dag_id, run_id)}")
            time.sleep(5)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        tis = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti for ti in tis}

    def wait_task(self, dag_id: str, run_id: str, task_id: str, states: set, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while (ti := self.task_instances(dag_id, run_id).get(task_id, {})).get("state") not in states:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{task_id} of {run_id} not in {states} after {timeout} s: {ti}")
            time.sleep(2)
        return ti


def main() -> None:
    """``python -m tests.cluster.airflow_cluster``: bring the cluster up, print how to reach it, and stop every process
    it started on Ctrl-C or SIGTERM."""
    import signal
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="mmrecun-cluster-"))
    cluster = Cluster(root)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        cluster.up()
        print(f"Airflow UI and API: {cluster.api} (user {USER}, password {cluster.password}); S3: {cluster.s3}; logs: {root}")
        print(f"workspace {cluster.workspace}, store {cluster.store}; Ctrl-C stops everything", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        print(f"stopped; left behind: {cluster.down()}")


if __name__ == "__main__":
    main()
