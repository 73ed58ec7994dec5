"""The core's layout: no import cycles, no plugin imported or named by the core, no oversized module.

Every ``import`` in ``hub_core/`` counts, at module level and inside functions;
only the facade's ``importlib`` lookups (``hub_core.__getattr__``) are not
imports. ``from package import name`` is an edge to ``package.name`` when that
is a module, else to the package itself.
"""

from __future__ import annotations

import ast
import configparser
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORE = ROOT / "hub_core"
MAX_LINES = 500
# Files that may name models: the demo fine-tunes one on purpose.
MAY_NAME_MODELS = {"hub_core/demo.py"}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def core_modules() -> dict[str, pathlib.Path]:
    return {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def imports_of(path: pathlib.Path, known: set[str]) -> set[str]:
    """Every module ``path`` imports (anywhere in the file), resolved against ``known`` where possible.

    Importing ``a.b.c`` first runs the packages ``a`` and ``a.b``: those count as imported too, unless they
    are packages of the importing module itself (which are already running when it runs).
    """
    own = module_name(path)
    own_packages = {own.rsplit(".", i)[0] for i in range(own.count(".") + 1)}
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
    for target in list(found):
        parts = target.split(".")
        found.update(p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p not in own_packages)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = core_modules()
    known = set(modules)
    return {name: imports_of(path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the graph's own nodes, as a closed path, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if target not in graph:
                continue
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def builtin_plugins() -> dict[str, str]:
    """Entry-point name -> module of the plugins this distribution registers (from setup.cfg)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.entry_points"]["hub_core.plugins"].strip().splitlines()
    return {line.split("=")[0].strip(): line.split("=")[1].strip().split(":")[0] for line in lines}


def model_names() -> set[str]:
    import json

    catalog = json.loads((ROOT / "registry.json").read_text())["plugins"]
    return set(catalog) | {variant for entry in catalog.values() for variant in entry["variants"]}


def test_importing_a_module_runs_the_packages_above_it():
    graph = import_graph()
    assert "hub_core.data" in graph["hub_core.tabular.tables"]  # tables import hub_core.data.arrays
    assert "hub_core.tabular" not in graph["hub_core.tabular.tables"]  # its own package is already running


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "x"}, "b": set()}) is None


def test_the_core_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in hub_core: " + " -> ".join(cycle)


def test_the_core_imports_no_plugin():
    packages = {module.split(".")[0] for module in builtin_plugins().values()} | {"plugins"}
    offenders = sorted(f"{name} imports {target}" for name, targets in import_graph().items()
                       for target in targets if target.split(".")[0] in packages)
    assert not offenders, offenders


def test_no_core_module_is_over_the_line_budget():
    long = {name: n for name, path in core_modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"core modules over {MAX_LINES} lines: {long}"


def _code_words(path: pathlib.Path) -> set[str]:
    """Identifiers, attribute names and non-docstring strings of a file (comments and docstrings left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    words = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", node.value))
    return words


def test_the_core_names_no_plugin_or_model_outside_docstrings():
    names = model_names()
    offenders = {}
    for name, path in core_modules().items():
        if str(path.relative_to(ROOT)) in MAY_NAME_MODELS:
            continue
        found = sorted(_code_words(path) & names)
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert not offenders, f"core modules that name plugins or models: {offenders}"
