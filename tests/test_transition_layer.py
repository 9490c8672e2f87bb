"""Only the transition layer (``scoria_django/transitions/``) writes a run's or a step's status.

The check reads every module of the package with ``ast`` and reports each place outside
the layer that assigns ``.status``, passes ``status=`` to a write (``update``, ``create``,
a model constructor, ...), sets it with ``setattr``, or holds hand-written SQL that
updates a status column. The self-tests below prove it finds each shape.
"""

import ast
import pathlib
import textwrap

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "scoria_django"
LAYER = PACKAGE / "transitions"

# Calls that write rows: a ``status`` keyword (or a ``**{"status": ...}``) there is a write.
WRITE_CALLS = {
    "update",
    "create",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "add_step",
    "set_run",
    "save",
}


def _model_names() -> set[str]:
    """The classes ``models.py`` defines: building one with a status writes it."""
    tree = ast.parse((PACKAGE / "models.py").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)}


MODELS = _model_names()


def _callee(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _is_status_target(target: ast.expr) -> bool:
    if isinstance(target, ast.Attribute):
        return target.attr == "status"
    if isinstance(target, ast.Tuple | ast.List):
        return any(_is_status_target(element) for element in target.elts)
    return False


def _dict_has_status(node: ast.expr) -> bool:
    return isinstance(node, ast.Dict) and any(
        isinstance(key, ast.Constant) and key.value == "status" for key in node.keys
    )


def status_writes(source: str, filename: str = "<source>") -> list[str]:
    """Every status write in ``source``, as ``file:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_status_target(target) for target in targets):
                found.append(f"{filename}:{line}: assigns .status")
        elif isinstance(node, ast.Call):
            name = _callee(node)
            writes = name in WRITE_CALLS or name in MODELS
            if writes and any(keyword.arg == "status" for keyword in node.keywords):
                found.append(f"{filename}:{line}: {name}(status=...)")
            if writes and any(
                keyword.arg is None and _dict_has_status(keyword.value) for keyword in node.keywords
            ):
                found.append(f"{filename}:{line}: {name}(**{{'status': ...}})")
            if name == "bulk_update" and any(
                isinstance(arg, ast.List | ast.Tuple)
                and any(isinstance(e, ast.Constant) and e.value == "status" for e in arg.elts)
                for arg in node.args
            ):
                found.append(f"{filename}:{line}: bulk_update of status")
            if (
                name == "setattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "status"
            ):
                found.append(f"{filename}:{line}: setattr(..., 'status', ...)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = " ".join(node.value.lower().split())
            if "update " in text and " set " in text and "status" in text:
                found.append(f"{filename}:{line}: SQL updating a status")
    return found


def package_status_writes() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if LAYER in path.parents or "migrations" in path.parts:
            continue
        found += status_writes(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    return found


def test_no_module_outside_the_transition_layer_writes_a_status():
    writes = package_status_writes()
    assert writes == [], "status written outside scoria_django/transitions/:\n" + "\n".join(writes)


def test_the_models_are_known_to_the_check():
    assert {"Run", "Step"} <= MODELS


def test_the_layer_itself_is_where_the_writes_are():
    # The check would pass vacuously if it could not see the layer's own writes.
    found = []
    for path in LAYER.rglob("*.py"):
        found += status_writes(path.read_text(), path.name)
    assert any("assigns .status" in line for line in found)
    assert any("(status=...)" in line for line in found)


@pytest.mark.parametrize(
    "source",
    [
        "run.status = 'failed'",
        "run.status, other = 'failed', 1",
        "Step.objects.filter(pk=1).update(status='queued')",
        "Step.objects.filter(pk=1).update(**{'status': 'queued'})",
        "Run.objects.create(status='running')",
        "Run(status='running', kind='k')",
        "Step.objects.bulk_update(steps, ['status'])",
        "setattr(step, 'status', 'failed')",
        "journal.add_step(kind='k', status='queued')",
        "cursor.execute('UPDATE scoria_step SET status = %s WHERE id = %s', [s, i])",
        "step.save(status='x')",
    ],
)
def test_the_check_finds_each_kind_of_status_write(source):
    assert status_writes(textwrap.dedent(source))


@pytest.mark.parametrize(
    "source",
    [
        "Step.objects.filter(status='queued').count()",
        "Run.objects.exclude(status__in=['failed'])",
        "Q(status='running') | Q(status='queued')",
        "if run.status == 'failed': pass",
        "values = {'status': run.status}",
        "cursor.execute('SELECT status FROM scoria_run')",
    ],
)
def test_reads_of_a_status_are_not_writes(source):
    assert status_writes(textwrap.dedent(source)) == []
