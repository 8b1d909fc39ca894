"""The engine's shape, checked from its source: headless, layered one way, and free of import cycles.

The layer order is declared once, in `LAYERS`, bottom first (docs/architecture.md draws it). A module may import
its own package and any package of a lower layer; packages that share a layer stay independent of each other. Every
import counts, including those inside functions and under `TYPE_CHECKING`: a deferred import still ties the two
modules together, it only hides the tie from Python's loader. So do a registry's entries, which name a module to
import when first asked for ("engine.models.als:ALSRecommender"), for the layers; not for cycles, since the models
a registry names use it back by design (auto creates its candidates through it).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"
REGISTRY_ENTRY = re.compile(r"engine(\.\w+)+:\w+")
"""A string naming an engine module (and an attribute of it) to import later: a registry's entry."""

LAYERS: tuple[tuple[str, ...], ...] = (
    ("settings", "logs", "core"),  # the environment's settings; log lines; the vocabulary every layer speaks
    ("store",),                    # database tables and sessions
    ("data",),                     # datasets: read, validate, catalogue, encode, index for models
    ("protocols", "training"),     # splits of a dataset; the shared gradient-training machinery
    ("metrics",),                  # metric functions and the evaluator that applies them to a split
    ("models",),                   # the model zoo and its registry
    ("onboarding",),               # which sign-up questions to ask new users, and the simulation that scores them
    ("runs",),                     # experiments and the runs on them; the protocols by name
    ("jobs", "analysis"),          # background workers; reading finished runs back (compare, explore)
    ("privacy",),                  # forgetting a user everywhere the product keeps them
    ("serving",),                  # the HTTP API over a finished run
    ("cli",),                      # the command line
    ("__main__",),                 # `python -m engine`
)
"""Top-level names under engine/, bottom layer first."""

LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def engine_modules(root: Path = ENGINE) -> dict[str, Path]:
    """Dotted module name -> file, for every Python file of the engine (a package is its __init__.py)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_engine_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """The engine modules `path` imports anywhere in its body, resolved to files (`from pkg import mod` names mod)."""
    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(resolve(alias.name) for alias in node.names if alias.name.split(".")[0] == "engine")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "engine":
            found.update(resolve(f"{node.module}.{alias.name}") for alias in node.names)
    return {name for name in found if name is not None}


def import_graph(root: Path = ENGINE) -> dict[str, set[str]]:
    """Module -> the other engine modules it imports."""
    modules = engine_modules(root)
    return {name: imported_engine_modules(path, modules) - {name} for name, path in modules.items()}


def registry_graph(root: Path = ENGINE) -> dict[str, set[str]]:
    """Module -> the other engine modules its string constants name as registry entries ("module:attribute")."""
    modules = engine_modules(root)
    return {name: {entry.partition(":")[0] for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
                   if isinstance(node, ast.Constant) and isinstance(entry := node.value, str)
                   and REGISTRY_ENTRY.fullmatch(entry) and entry.partition(":")[0] in modules} - {name}
            for name, path in modules.items()}


def dependency_graph(root: Path = ENGINE) -> dict[str, set[str]]:
    """Module -> the engine modules it imports or names as registry entries: what the layers are checked on."""
    imports, entries = import_graph(root), registry_graph(root)
    return {name: imports[name] | entries[name] for name in imports}


def package_of(module: str, graph: dict[str, set[str]]) -> str:
    """The package a module lives in (`engine.models.als` -> `engine.models`); a package is its own."""
    is_package = any(other.startswith(module + ".") for other in graph)
    return module if is_package or module.count(".") < 2 else module.rpartition(".")[0]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package -> the other packages its modules import."""
    packages: dict[str, set[str]] = {package_of(module, graph): set() for module in graph}
    for module, imported in graph.items():
        source = package_of(module, graph)
        packages[source].update(package_of(target, graph) for target in imported)
        packages[source].discard(source)
    return packages


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of nodes that reach each other (strongly connected components of two or more), Tarjan's algorithm."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in on_stack:
                lowest[node] = min(lowest[node], index[target])
        if lowest[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def top_level(module: str) -> str:
    """`engine.models.als` -> `models`; the engine package itself is ''."""
    return module.split(".")[1] if "." in module else ""


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import that reaches up a layer, or across to another package of the same layer."""
    violations = []
    for module, imported in sorted(graph.items()):
        source = top_level(module)
        for target in sorted(imported):
            destination = top_level(target)
            if destination == source or not destination:
                continue
            if LAYER_OF[destination] > LAYER_OF[source]:
                violations.append(f"{module} imports {target}, a layer above it")
            elif LAYER_OF[destination] == LAYER_OF[source]:
                violations.append(f"{module} imports {target}, a sibling on the same layer")
    return violations


def _names(modules: Iterable[str]) -> set[str]:
    return {top_level(module) for module in modules} - {""}


def test_every_engine_package_has_a_declared_layer():
    undeclared = sorted(_names(import_graph()) - set(LAYER_OF))
    assert undeclared == [], f"add these engine packages to LAYERS in {Path(__file__).name}: {undeclared}"


def test_no_engine_module_imports_one_from_a_layer_above_or_beside_it():
    assert layer_violations(dependency_graph()) == []


def test_no_import_cycle_between_files():
    assert cycles(import_graph()) == []


def test_no_import_cycle_between_packages():
    assert cycles(package_graph(import_graph())) == []


def test_the_checks_see_an_upward_import_and_a_cycle():
    graph = {"engine.core.data": {"engine.models.als"}, "engine.models.als": {"engine.core.data"}}
    assert layer_violations(graph) == ["engine.core.data imports engine.models.als, a layer above it"]
    assert cycles(graph) == [["engine.core.data", "engine.models.als"]]
    assert cycles(package_graph(graph)) == [["engine.core", "engine.models"]]
    assert layer_violations({"engine.jobs.queue": {"engine.analysis.explore"}}) == [
        "engine.jobs.queue imports engine.analysis.explore, a sibling on the same layer"]


def test_imports_inside_functions_count():
    graph = import_graph()
    assert "engine.runs.runner" in graph["engine.jobs.child"]  # imported only inside the functions that run a job


def test_registry_entries_count_for_the_layers():
    graph = dependency_graph()
    assert "engine.onboarding.protocol" in graph["engine.runs.protocol_catalog"]
    assert "engine.models.als" in graph["engine.models.registry"]
    assert "engine.onboarding.protocol" not in import_graph()["engine.runs.protocol_catalog"]


def _imported_top_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_engine_never_imports_streamlit_plotly_or_the_app():
    offenders = [
        str(path.relative_to(ENGINE.parent))
        for path in sorted(ENGINE.rglob("*.py"))
        if _imported_top_names(path) & {"streamlit", "plotly", "pages", "ui", "app", "tests", "benchmarks"}
    ]
    assert offenders == []


def test_engine_source_files_exist_to_check():
    assert len(list(ENGINE.rglob("*.py"))) >= 10
