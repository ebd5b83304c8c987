"""The one-machine cluster's processes: PostgreSQL, Redis and the S3 test server, each in a private folder on a free
loopback port; every process started in its own session with its PID recorded, and stopped by PID.

Every process gets ``MMRECUN_CLUSTER_ID`` in its environment, so what it starts in turn (Celery's pool, the task
supervisors, which put each task in a process group of its own) is found by that mark in ``/proc`` as well:
:meth:`Processes.leftovers` lists whatever still runs, and :meth:`Processes.stop_all` ends it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.s3_server import free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _marked(mark: str) -> list[int]:
    """PIDs whose environment holds ``MMRECUN_CLUSTER_ID=<mark>``."""
    needle = f"MMRECUN_CLUSTER_ID={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to read
                pass
    return found


def _children(pid: int) -> list[int]:
    """``pid`` and all its descendants (from ``/proc/<pid>/stat``'s parent field)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except OSError:
                pass
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


class Processes:
    """The processes of one cluster under ``root``: ``root/<name>.log`` and ``root/pids/<name>.pid`` for each."""

    def __init__(self, root: Path):
        self.root = root
        self.mark = secrets.token_hex(8)
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: set[int] = set()
        (root / "pids").mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env=None, port: int | None = None, user: str | None = None, timeout=120, cwd=None):
        """Start ``argv`` in a new session (in ``cwd``, default the cluster's folder); with ``port``, wait until it
        listens there."""
        env = {**(env or os.environ), "MMRECUN_CLUSTER_ID": self.mark}
        with open(self.root / f"{name}.log", "ab") as log:
            where = {"cwd": cwd or self.root, "user": user}
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, **where)
        self.procs[name] = proc
        (self.root / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n")
        if port:
            self.ports.add(port)
            self.wait_for(name, lambda: listening(port), timeout, f"port {port}")
        return proc

    def wait_for(self, name: str, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.procs[name].returncode}: {self.tail(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: no {what} after {timeout} s: {self.tail(name)}")
            time.sleep(0.5)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.root / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def kill(self, name: str) -> None:
        """SIGKILL ``name``'s process group and every descendant (a task runs in a process group of its own): the
        machine it runs on is gone."""
        proc = self.procs[name]
        tree = _children(proc.pid)
        for kill, target in [(os.killpg, proc.pid), *((os.kill, pid) for pid in tree)]:
            try:
                kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(30)

    def stop(self, name: str, timeout: float = 30) -> None:
        """SIGTERM the process group, SIGKILL what is left after ``timeout``."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(name)
        except ProcessLookupError:
            proc.wait(5)

    def stop_all(self) -> None:
        """Stop every process, the last started first, then SIGKILL anything still marked as this cluster's."""
        for name in reversed(list(self.procs)):
            self.stop(name)
        for _ in range(20):
            left = _marked(self.mark)
            if not left:
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)

    def leftovers(self) -> dict:
        """What still runs or listens: ``{"pids": [...], "ports": [...]}`` (both empty after a clean stop)."""
        return {"pids": _marked(self.mark), "ports": sorted(p for p in self.ports if listening(p))}


def start_postgres(procs: Processes) -> str:
    """initdb + postgres on a free loopback port (TCP only, no Unix socket); returns the ``postgresql://`` URL of
    database ``airflow``, owned by user ``airflow`` with a random password."""
    if PG_BIN is None:
        raise RuntimeError("PostgreSQL not installed (apt-get install postgresql)")
    # PostgreSQL refuses to run as root: then it runs as the Debian package's user, in a folder that user owns.
    user = "postgres" if os.geteuid() == 0 else None
    data = procs.root / "postgres"
    data.mkdir()
    pwfile = procs.root / "postgres.pw"
    password = secrets.token_hex(16)
    pwfile.write_text(password + "\n")
    if user:
        procs.root.chmod(0o711)
        shutil.chown(data, user)
        shutil.chown(pwfile, user)
    init = ["initdb", "-D", str(data), "-U", "airflow", f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"]
    subprocess.run([str(PG_BIN / init[0]), *init[1:]], check=True, capture_output=True, user=user, cwd=procs.root)
    pwfile.unlink()
    port = free_port()
    settings = {"listen_addresses": "127.0.0.1", "port": port, "unix_socket_directories": "", "fsync": "off", "max_connections": 200}
    argv = [str(PG_BIN / "postgres"), "-D", str(data), *(f"-c{k}={v}" for k, v in settings.items())]
    procs.start("postgres", argv, port=port, user=user)
    url = f"postgresql://airflow:{password}@127.0.0.1:{port}"
    import psycopg2

    conn = psycopg2.connect(f"{url}/postgres")
    try:
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE airflow")
    finally:
        conn.close()
    return f"{url}/airflow"


def start_redis(procs: Processes) -> str:
    """redis-server on a free loopback port, nothing persisted, a random password; returns its ``redis://`` URL."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("Redis not installed (apt-get install redis-server)")
    port, password = free_port(), secrets.token_hex(16)
    (procs.root / "redis").mkdir()
    conf = procs.root / "redis" / "redis.conf"
    conf.write_text(f"bind 127.0.0.1\nport {port}\ndir {procs.root / 'redis'}\nsave ''\nappendonly no\nrequirepass {password}\n")
    conf.chmod(0o600)
    procs.start("redis", ["redis-server", str(conf)], port=port)
    return f"redis://:{password}@127.0.0.1:{port}/0"


def start_s3(procs: Processes) -> str:
    """moto's S3 server (as the tests use it) on a free loopback port; returns its endpoint URL."""
    port = free_port()
    procs.start("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port=port)
    return f"http://127.0.0.1:{port}"
