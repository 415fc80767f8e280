"""Imports point down: gateway -> domain apps -> nebengjek (../shared/CONVENTIONS.md).

An AST walk of every non-test module, counting imports inside functions too (a deferred import is still a
dependency). The rules: the shared base imports no app (its entry points hand over to the edge app), locations and
products import no other domain (what locations needs of them comes through locations.sources, wired by the
gateway), and no domain app imports the gateway.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("accounts", "locations", "products", "matching", "rides", "billing")
APPS = (*DOMAINS, "gateway")
# The base's entry points: `nebengjek.asgi:application` and ROOT_URLCONF hand over to the edge app.
BASE_ENTRY_POINTS = {"nebengjek/asgi.py", "nebengjek/urls.py"}


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        parts = path.relative_to(ROOT / package).parts
        if parts[0] in ("tests", "migrations") or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        yield relative, path


def _imported_packages(path: Path) -> dict[str, int]:
    """Top-level package -> first line importing it, for every absolute import in the module."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


def _violations(package: str, forbidden: tuple[str, ...], exempt: set[str] = frozenset()) -> list[str]:
    return [
        f"{module}:{line}: imports {target}"
        for module, path in _modules(package)
        if module not in exempt
        for target, line in _imported_packages(path).items()
        if target in forbidden
    ]


def test_the_shared_base_imports_no_app():
    assert _violations("nebengjek", APPS, exempt=BASE_ENTRY_POINTS) == []


def test_locations_imports_no_other_domain_nor_the_gateway():
    assert _violations("locations", tuple(app for app in APPS if app != "locations")) == []


def test_the_product_catalogue_imports_no_other_domain_nor_the_gateway():
    """Products and their fare policies are read by matching, rides and billing; they read nobody."""
    assert _violations("products", tuple(app for app in APPS if app != "products")) == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_no_domain_imports_the_gateway(domain):
    assert _violations(domain, ("gateway",)) == []


def test_the_walk_sees_deferred_imports(tmp_path):
    """The rule would be empty if a function-level import slipped past the walk."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from rides.selectors import x\n    return x\n")
    assert _imported_packages(module) == {"rides": 2}
