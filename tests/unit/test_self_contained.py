"""The repository is self-contained: nothing in it cites or reads files outside it.

Comments and docs cite the project's own `docs/` (field facts, performance notes, contracts,
ADRs). A citation of a design or domain brief kept outside the repository, or a relative path
that climbs out of the checkout, points a reader at something a checkout does not have. The one allowance: test
code may name a shared *test-data* folder in a string literal (it reads it as data); comments and
docstrings may not, and nothing else may name a folder outside the repository.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED_DIRS = ("src", "tests", "bench", "scripts", "docs", "deploy", "examples", ".ci")
SCANNED_FILES = ("README.md", "CHANGELOG.md", "pyproject.toml", "docker-compose.yml")
SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"}

# Built from pieces so that this file does not match itself.
EXTERNAL_DOCS = re.compile(r"\b(?:DESIGN|domain|style)\.md\b")
OUTSIDE_PATHS = re.compile(r"\.\./+shared\b|\.\./\.\./\.\.|" + re.escape("/" + "work" + "/"))
TEST_DATA = "shared" + "/testdata"


def scanned_files(root: Path) -> list[Path]:
    files = [root / name for name in SCANNED_FILES if (root / name).is_file()]
    for folder in SCANNED_DIRS:
        files.extend(
            path
            for path in sorted((root / folder).rglob("*"))
            if path.is_file() and not SKIPPED_DIRS & set(path.relative_to(root).parts)
        )
    return files


def _docstring_nodes(tree: ast.AST) -> set[ast.AST]:
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, owners) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(first.value)
    return found


def data_literal_lines(source: str) -> set[int]:
    """Lines of a Python file where a code string literal (not a docstring) names test data."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    lines: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and TEST_DATA in node.value
            and node not in docstrings
        ):
            end = node.end_lineno or node.lineno
            lines.update(range(node.lineno, end + 1))
    return lines


def violations(path: Path, text: str, root: Path) -> list[str]:
    relative = path.relative_to(root)
    allowed: set[int] = set()
    if relative.parts[0] == "tests" and path.suffix == ".py":
        allowed = data_literal_lines(text)
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if EXTERNAL_DOCS.search(line):
            found.append(
                f"{relative}:{number}: cites a document outside the repository: {line.strip()}"
            )
        elif OUTSIDE_PATHS.search(line) and not (TEST_DATA in line and number in allowed):
            found.append(
                f"{relative}:{number}: names a path outside the repository: {line.strip()}"
            )
    return found


def repository_violations(root: Path) -> list[str]:
    found = []
    for path in scanned_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary files (images, fonts) cite nothing
        found.extend(violations(path, text, root))
    return found


def test_nothing_cites_or_reads_outside_the_repository():
    found = repository_violations(ROOT)
    assert found == [], "\n".join(found)


def test_the_scan_covers_code_tests_scripts_and_docs():
    names = {str(p.relative_to(ROOT)) for p in scanned_files(ROOT)}
    assert {
        "src/wqmon/cli.py",
        "tests/unit/test_self_contained.py",
        "scripts/test",
        "scripts/check-install",
        "docs/field-facts.md",
        "README.md",
    } <= names
    assert "src/wqmon/protocol/modbus/profiles/hach-cod.yaml" in names


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_citations_and_outside_paths_are_reported(tmp_path):
    root = _tree(
        tmp_path,
        {
            "src/a.py": f'"""Units (DESIGN{".md"} §2)."""\n',
            "src/b.yaml": f"source: docs/domain{'.md'} §5.2\n",
            "scripts/c": f"cat ../{'shared'}/notes.txt\n",
            "docs/d.md": f"see /{'work'}/shared/x\n",
            "src/ok.py": '"""Units (docs/field-facts.md §6)."""\n',
        },
    )
    found = repository_violations(root)
    assert sorted(line.split(":")[0] for line in found) == [
        "docs/d.md",
        "scripts/c",
        "src/a.py",
        "src/b.yaml",
    ]


def test_test_code_may_read_shared_test_data_but_not_cite_it(tmp_path):
    data = f"../{TEST_DATA}/hj212/vectors.txt"
    root = _tree(
        tmp_path,
        {
            "tests/unit/test_reads.py": f'"""Reads vectors."""\nVECTORS = "{data}"\n',
            "tests/unit/test_cites.py": f'"""Vectors from {data}."""\n# and {data}\n',
            "src/reads.py": f'VECTORS = "{data}"\n',
        },
    )
    found = repository_violations(root)
    assert sorted(line.split(": ")[0] for line in found) == [
        "src/reads.py:1",
        "tests/unit/test_cites.py:1",
        "tests/unit/test_cites.py:2",
    ]


def test_the_documented_vectors_are_the_golden_cases():
    # docs/field-facts.md §12 lists the verified frames; the golden cases must hold exactly them.
    text = (ROOT / "docs" / "field-facts.md").read_text(encoding="utf-8")
    section = text[text.index("## 12. Test vectors") :]
    documented = re.findall(r"^##\d{4}.*$", section, flags=re.MULTILINE)
    cases = ROOT / "tests" / "testcases" / "hj212"
    stored = [
        (cases / f"vector_{n}" / "frames.txt").read_text(encoding="utf-8").splitlines()[0].strip()
        for n in range(1, 6)
    ]
    assert documented == stored
