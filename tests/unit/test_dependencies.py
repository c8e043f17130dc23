"""Every third-party module the package imports is a declared runtime dependency.

`pip install .` (what deploy/Dockerfile runs) installs only `[project] dependencies`; a module
that is imported by `src/wqmon` but only reaches the machine through the `dev` extra makes
`wqmon ingest`, `api` and `demo` die with ModuleNotFoundError in production while every test
passes. This walks the source with `ast` (lazy imports inside functions included, imports under
`if TYPE_CHECKING:` excluded: they never run), maps each top-level name to the distributions
that provide it in this environment, and checks pyproject.toml declares one of them.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "wqmon"


def normalise(name: str) -> str:
    """A distribution name in PEP 503 normal form (`PyYAML` → `pyyaml`, `paho_mqtt` → `paho-mqtt`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_dependencies(pyproject: Path) -> set[str]:
    """The normalised names in `[project] dependencies` (extras and version specifiers dropped)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    names = set()
    for requirement in project["dependencies"]:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        assert match, f"unreadable requirement {requirement!r}"
        names.add(normalise(match.group(1)))
    return names


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of the tree except the bodies of `if TYPE_CHECKING:` blocks."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        if _is_type_checking_block(node):
            assert isinstance(node, ast.If)
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def imported_top_level_names(source: str) -> set[str]:
    """Top-level names of the absolute imports a module may execute, wherever they sit."""
    names = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def third_party_imports(package: Path) -> dict[str, set[str]]:
    """Third-party top-level import name → the modules importing it (paths from the package's parent)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for name in imported_top_level_names(path.read_text(encoding="utf-8")):
            if name in sys.stdlib_module_names or name in {"__future__", "wqmon"}:
                continue
            found.setdefault(name, set()).add(str(path.relative_to(package.parent)))
    return found


def undeclared(package: Path, pyproject: Path) -> dict[str, str]:
    """Import name → why it is not covered by the runtime dependencies."""
    providers = importlib.metadata.packages_distributions()
    declared = declared_dependencies(pyproject)
    problems = {}
    for name, users in third_party_imports(package).items():
        distributions = {normalise(d) for d in providers.get(name, [])}
        where = ", ".join(sorted(users))
        if not distributions:
            problems[name] = f"no installed distribution provides it (imported by {where})"
        elif not distributions & declared:
            problems[name] = (
                f"provided by {', '.join(sorted(distributions))}, not in [project] dependencies"
                f" (imported by {where})"
            )
    return problems


def test_every_runtime_import_is_a_declared_dependency():
    problems = undeclared(PACKAGE, ROOT / "pyproject.toml")
    assert problems == {}, "\n".join(f"{name}: {why}" for name, why in sorted(problems.items()))


def test_the_walk_sees_the_imports_it_must_check():
    # The check above is only as good as the walk: the known runtime imports must be found.
    names = set(third_party_imports(PACKAGE))
    assert {"fastapi", "httpx", "psycopg", "msgspec", "paho", "yaml"} <= names
    assert not names & {"os", "asyncio", "wqmon", "__future__"}


def test_lazy_imports_count_and_type_checking_imports_do_not():
    source = (
        "from typing import TYPE_CHECKING\n"
        "import yaml.loader\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    import only_for_mypy\n"
        "else:\n"
        "    import at_runtime\n"
        "def later():\n"
        "    from lazy_lib.sub import thing\n"
        "    return thing\n"
    )
    assert imported_top_level_names(source) == {"typing", "yaml", "at_runtime", "lazy_lib"}


def test_an_undeclared_import_is_reported(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text("def f():\n    import httpx\n    import yaml\n")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["PyYAML>=6"]\n')
    problems = undeclared(package, pyproject)
    assert set(problems) == {"httpx"}
    assert "not in [project] dependencies" in problems["httpx"]


def test_names_are_compared_in_normal_form():
    assert normalise("PyYAML") == "pyyaml"
    assert normalise("paho_mqtt") == normalise("paho-mqtt") == normalise("Paho.MQTT")
