"""Each table has one writing app: no app's code writes or locks another app's models through their manager.

An AST walk of every app's non-test modules: a name imported from `<other app>.models` used as
`Name.objects...<write method>(...)` is a violation. (A `.save()` on an instance of another app's model is not
traced; services create and save their own app's rows.)
"""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
WRITE_METHODS = {
    "create",
    "bulk_create",
    "get_or_create",
    "update_or_create",
    "update",
    "bulk_update",
    "delete",
    "select_for_update",
}
# (module, model, method) -> why it is let through for now. Each is a lock or a write that predates the one-writer
# rule and outside rides <-> matching; moving it behind the owner's service is follow-up work.
ALLOWED = {
    ("billing/services.py", "Ride", "select_for_update"): "billing locks the rides it settles; it never writes them",
    ("matching/services.py", "User", "select_for_update"): "dispatch claims free drivers (SKIP LOCKED), no write",
    ("gateway/management/commands/locations_bench.py", "User", "get_or_create"): "bench seeding command",
    ("gateway/management/commands/locations_bench.py", "DriverProfile", "get_or_create"): "bench seeding command",
}


@dataclass(frozen=True)
class Write:
    module: str
    line: int
    model: str
    owner: str
    method: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.model}.objects...{self.method}() writes {self.owner}'s table"


def _project_apps() -> dict[str, Path]:
    """label -> directory of every installed app that lives in this repository."""
    found = {}
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.parent == ROOT:
            found[path.name] = path
    return found


def _modules(app_dir: Path):
    for path in sorted(app_dir.rglob("*.py")):
        parts = path.relative_to(app_dir).parts
        if parts[0] in ("tests", "migrations") or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        yield path


def _imported_models(tree: ast.AST, app_names: set[str]) -> dict[str, str]:
    """Local name -> the app it was imported from, for every `from <app>.models import Name [as alias]`."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith(".models"):
            owner = node.module.split(".")[0]
            if owner in app_names:
                for alias in node.names:
                    names[alias.asname or alias.name] = owner
    return names


def _chain(node: ast.AST) -> tuple[ast.AST, list[str]]:
    """The root of `A.objects.filter(...).update` and the attribute names met on the way down."""
    attrs = []
    while True:
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node, attrs


def writes_to_other_apps(source: str, *, module: str, app: str, app_names: set[str]) -> list[Write]:
    tree = ast.parse(source)
    models = {name: owner for name, owner in _imported_models(tree, app_names).items() if owner != app}
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITE_METHODS
        ):
            continue
        root, attrs = _chain(node.func)
        if isinstance(root, ast.Name) and root.id in models and "objects" in attrs:
            found.append(Write(module, node.lineno, root.id, models[root.id], node.func.attr))
    return found


def all_foreign_writes() -> list[Write]:
    project = _project_apps()
    found = []
    for app, app_dir in project.items():
        for path in _modules(app_dir):
            module = str(path.relative_to(ROOT))
            found += writes_to_other_apps(path.read_text(), module=module, app=app, app_names=set(project))
    return [write for write in found if (write.module, write.model, write.method) not in ALLOWED]


def test_no_app_writes_or_locks_another_apps_tables():
    violations = all_foreign_writes()
    assert not violations, "a table written by an app that does not own it:\n" + "\n".join(map(str, violations))


@pytest.mark.parametrize(
    "line",
    [
        "Match.objects.filter(pk=1).update(holds_driver=False)",
        "RideRequest.objects.select_for_update().get(pk=1)",
        "Match.objects.bulk_create(rows)",
    ],
)
def test_the_walk_finds_a_write_to_another_apps_model(line):
    source = f"from matching.models import Match, RideRequest\ndef f(rows):\n    {line}\n"
    found = writes_to_other_apps(source, module="rides/x.py", app="rides", app_names={"rides", "matching"})
    assert [write.owner for write in found] == ["matching"]


def test_the_walk_lets_an_app_write_its_own_and_read_others():
    source = (
        "from matching.models import Match\nfrom rides.models import Ride\n"
        "def f():\n    Ride.objects.filter(pk=1).update(status='x')\n    Match.objects.filter(pk=1).first()\n"
    )
    assert writes_to_other_apps(source, module="rides/x.py", app="rides", app_names={"rides", "matching"}) == []
