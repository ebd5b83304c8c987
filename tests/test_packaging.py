"""Packaging: `tasks` and `schemas` (generic names on PyPI) resolve to this project's packages; the console script
and the report templates are installed."""

import subprocess
import sys
import tomllib
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


def test_every_template_is_package_data():
    """The Jinja2 templates travel with the package that loads them (``PackageLoader``), in the wheel too."""
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    templates = sorted((REPO / "tasks").rglob("*.j2"))
    assert templates
    for path in templates:
        package_dir = next(p for p in path.parents if (p / "__init__.py").is_file())
        package = ".".join(package_dir.relative_to(REPO).parts)
        assert any(path.relative_to(package_dir).match(glob) for glob in package_data.get(package, [])), path
