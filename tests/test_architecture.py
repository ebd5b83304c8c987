"""The code's shape: imports go one way (dags -> tasks -> mmrecun_core; schemas shared), no import cycle, small modules.

The import graph is read from the source with :mod:`ast` (module-level imports and those inside functions alike),
so nothing is imported here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("dags", "tasks", "mmrecun_core", "schemas")
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def _resolve(name: str, importer: str) -> str | None:
    """The project module ``name`` refers to, or its nearest project ancestor; None outside the project.

    DAG files import each other by bare name (the DAG folder is on ``sys.path``)."""
    candidates = [name, f"dags.{name}"] if importer.startswith("dags.") else [name]
    for candidate in candidates:
        parts = candidate.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in MODULES:
                return ".".join(parts[:end])
    return None


def _imported_names(tree: ast.AST, importer: str) -> set[str]:
    """Dotted names of what each ``import`` and ``from ... import`` statement loads, relative ones resolved."""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # a submodule, or else a name in ``base``
    return names


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports, with the packages whose ``__init__`` that runs."""
    graph = {}
    for module, path in MODULES.items():
        targets = {_resolve(name, module) for name in _imported_names(ast.parse(path.read_text()), module)} - {None}
        targets |= {a for t in targets for a in _ancestors(t) if a in MODULES and not module.startswith(f"{a}.")}
        graph[module] = targets - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_names_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def _top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize(
    "layer,forbidden", [("mmrecun_core", {"tasks", "dags", "schemas"}), ("tasks", {"dags"}), ("schemas", {"tasks", "dags"})]
)
def test_imports_go_one_way(layer, forbidden):
    wrong = sorted(f"{m} imports {t}" for m, targets in import_graph().items() if _top(m) == layer for t in targets if _top(t) in forbidden)
    assert wrong == []


def test_core_imports_no_orchestration_or_storage_library():
    wrong = sorted(
        f"{m} imports {name}"
        for m, path in MODULES.items()
        if _top(m) == "mmrecun_core"
        for name in _imported_names(ast.parse(path.read_text()), m)
        if name.split(".")[0] in ("airflow", "boto3")
    )
    assert wrong == []


def test_no_module_is_over_300_lines():
    paths = [p for folder in (*PACKAGES, "bench") for p in (REPO / folder).rglob("*.py")]
    long = sorted(f"{p.relative_to(REPO)}: {n} lines" for p in paths if (n := len(p.read_text().splitlines())) > MAX_LINES)
    assert long == []
