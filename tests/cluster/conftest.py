"""The one-machine cluster test runs only when asked for (``make test-cluster`` sets ``MMRECUN_CLUSTER_TEST=1``):
plain ``make test`` does not collect it. It starts PostgreSQL, Redis, the S3 test server and a whole Airflow with
Celery workers, and takes minutes."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("MMRECUN_CLUSTER_TEST") == "1" else ["*.py"]
