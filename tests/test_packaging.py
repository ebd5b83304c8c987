"""`tasks` and `schemas` are generic names on PyPI: they must resolve to this project's packages."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_generic_package_names_resolve_to_this_project(tmp_path):
    # Run from an unrelated folder so the repository is not on sys.path through the cwd.
    code = "import tasks, schemas, mmrecun_core; print(tasks.__file__); print(schemas.__file__); print(mmrecun_core.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert [Path(p).resolve().parent for p in out] == [REPO / "tasks", REPO / "schemas", REPO / "mmrecun_core"]


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "mmrecun"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "convert-mmrec" in result.stdout and "train" in result.stdout


def test_core_imports_no_upper_layer():
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "mmrecun_core").rglob("*.py")
        for line in p.read_text().splitlines()
        if line.lstrip().startswith(("import tasks", "from tasks", "import dags", "from dags", "import airflow", "from airflow", "import boto3"))
    ]
    assert offenders == []
