"""``[core] hostname_callable`` of the one-machine cluster: each component names itself by ``MMRECUN_WORKER_HOSTNAME``,
so a task instance's ``hostname`` tells which worker ran it although all run on one host."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("MMRECUN_WORKER_HOSTNAME") or socket.getfqdn()
