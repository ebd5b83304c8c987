"""A real S3 HTTP endpoint on loopback for tests and benchmarks: moto's server mode in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server(log_path: str | Path) -> Iterator[str]:
    """Start moto's server on a free loopback port (its output in ``log_path``), set dummy credentials and region
    for boto3, and yield the endpoint URL; on exit stop the server and restore the environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
        os.environ.update(CREDENTIALS)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError(f"moto server exited with {proc.returncode}") from None
                    time.sleep(0.05)
            else:
                raise RuntimeError(f"moto server did not answer on {url}")
            yield url
        finally:
            proc.terminate()
            proc.wait(10)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
