"""Airflow for real: a project-local AIRFLOW_HOME with a migrated SQLite metadata DB, the repo's DAGs.

The environment is set when this module is imported, before any test module imports Airflow, and
the DAG defaults (workspace, store) point into a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
HOME = Path(tempfile.mkdtemp(prefix="mmrecun-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "MMRECUN_WORKSPACE": str(HOME / "runs"),
        "MMRECUN_STORE": str(HOME / "store"),
    }
)
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """``airflow db migrate`` into the temporary AIRFLOW_HOME (once per session)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ)
    return HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))
