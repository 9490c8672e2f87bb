"""The package's import graph, read with ``ast``: no module-level cycles, no layering cycles.

A module-level cycle makes import order matter (a partially initialised module hands out
missing names). Imports inside functions run later, so they may close a loop, except
where two modules are meant to be layered: ``identity`` is the rule and ``middleware``
only attaches it; ``tasks``, ``runtime.dispatch`` and ``runtime.executor`` wake, route
and run steps, one way.

Only static imports are seen: ``import_module()`` and ``import_string()`` with computed
names (the facade's lazy ``__getattr__``, handler paths) are not part of the graph.
"""

import ast
from collections import deque
from functools import cache
from itertools import combinations
from pathlib import Path

PACKAGE = "scoria_django"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE


# -- the graph ----------------------------------------------------------------------------


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package under ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([package, *parts])] = path
    return modules


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module):
    """Every import node with whether it runs when the module is imported."""

    def visit(node, at_import_time):
        for child in ast.iter_child_nodes(node):
            deferred = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            skipped = isinstance(child, ast.If) and _type_checking_only(child)
            runs_now = at_import_time and not (deferred or skipped)
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, runs_now
            yield from visit(child, runs_now)

    yield from visit(tree, True)


def _targets(node, importer: str, is_package: bool, modules) -> set[str]:
    """The package modules an import statement loads."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module
    found = set()
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        if submodule in modules:  # ``from . import x`` with x a submodule imports x
            found.add(submodule)
        elif source in modules:  # a name defined in the module (a package: its __init__)
            found.add(source)
    return found


def import_graphs(root: Path, package: str) -> tuple[dict, dict]:
    """(module-level imports, all imports): module -> set of package modules it imports."""
    modules = module_files(root, package)
    at_import, everywhere = {}, {}
    for name, path in modules.items():
        at_import[name], everywhere[name] = set(), set()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, runs_now in _imports(tree):
            targets = _targets(node, name, path.name == "__init__.py", modules)
            everywhere[name] |= targets
            if runs_now:
                at_import[name] |= targets
    return at_import, everywhere


# -- cycles -------------------------------------------------------------------------------


def path_between(graph: dict, start: str, goal: str) -> list[str] | None:
    """A shortest import path ``start -> ... -> goal`` (at least one edge), or None."""
    seen, queue = set(), deque([[start]])
    while queue:
        path = queue.popleft()
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == goal:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                queue.append([*path, nxt])
    return None


def cycle_through(graph: dict, *members: str) -> list[str] | None:
    """A cycle visiting every one of ``members`` (in that order), or None."""
    loop = [members[0]]
    for here, there in zip(members, [*members[1:], members[0]], strict=True):
        leg = path_between(graph, here, there)
        if leg is None:
            return None
        loop += leg[1:]
    return loop


def cycles(graph: dict) -> list[list[str]]:
    """One cycle per strongly connected component that has one (Tarjan's algorithm)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    found = []
    for component in components:
        first = min(component)
        if len(component) > 1 or first in graph.get(first, ()):
            found.append(cycle_through(graph, first))
    return found


def show(loops: list[list[str]]) -> str:
    return "\n".join(" -> ".join(loop) for loop in loops)


# -- the package --------------------------------------------------------------------------


@cache
def package_graphs() -> tuple[dict, dict]:
    return import_graphs(PACKAGE_DIR, PACKAGE)


ENGINE = ("scoria_django.tasks", "scoria_django.runtime.dispatch", "scoria_django.runtime.executor")


def test_the_graph_sees_the_package():
    at_import, _ = package_graphs()
    # Guards the checker itself: an empty or disconnected graph would pass every test below.
    assert "scoria_django.identity" in at_import["scoria_django.middleware"]
    assert "scoria_django.identity" in at_import["scoria_django"]


def test_no_module_level_import_cycle():
    loops = cycles(package_graphs()[0])
    assert loops == [], f"module-level import cycles:\n{show(loops)}"


def test_identity_and_middleware_never_import_each_other_in_a_loop():
    _, everywhere = package_graphs()
    loop = cycle_through(everywhere, "scoria_django.identity", "scoria_django.middleware")
    assert loop is None, f"identity and middleware in one import cycle: {' -> '.join(loop)}"
    # The rule never needs what attaches it, not even through another module.
    path = path_between(everywhere, "scoria_django.identity", "scoria_django.middleware")
    assert path is None, f"identity reaches middleware: {' -> '.join(path)}"


def test_tasks_dispatch_and_executor_are_layered():
    _, everywhere = package_graphs()
    loops = {}
    for pair in combinations(ENGINE, 2):
        if (loop := cycle_through(everywhere, *pair)) is not None:
            loops.setdefault(frozenset(zip(loop, loop[1:], strict=False)), loop)  # one per loop
    loops = list(loops.values())
    assert loops == [], f"import cycles through two of {', '.join(ENGINE)}:\n{show(loops)}"


# -- the checker finds what it should -----------------------------------------------------


def test_cycles_are_found_in_a_synthetic_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"], ["d", "d"]]
    assert cycle_through(graph, "c", "a") == ["c", "a", "b", "c"]
    assert cycle_through(graph, "a", "e") is None
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_lazy_and_submodule_imports_resolve(tmp_path):
    files = {
        "__init__.py": "from .core import thing\n",
        "core.py": "thing = 1\ndef later():\n    from .web import view\n",
        "web/__init__.py": "from .. import core\nfrom . import views\n",
        "web/views.py": (
            "import pkg.core\nfrom typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .. import web\n"
            "class Page:\n    from pkg import thing\n"
        ),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)

    at_import, everywhere = import_graphs(tmp_path, "pkg")

    assert at_import == {
        "pkg": {"pkg.core"},
        "pkg.core": set(),
        "pkg.web": {"pkg.core", "pkg.web.views"},
        "pkg.web.views": {"pkg.core", "pkg"},
    }
    assert everywhere["pkg.core"] == {"pkg.web"}
    assert everywhere["pkg.web.views"] == {"pkg.core", "pkg", "pkg.web"}
    assert cycles(at_import) == []
    # The lazy import in core closes a loop back through the package and its class body.
    assert cycles(everywhere) == [["pkg", "pkg.core", "pkg.web", "pkg.web.views", "pkg"]]
