"""CI runs exactly the README's test command, and that command checks a production install."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands(path: Path) -> list[str]:
    """The non-comment, non-blank lines of a shell script."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_ci_only_execs_the_readme_test_command():
    commands = _commands(ROOT / ".ci" / "run")
    assert commands[-1] == "exec bash scripts/test"
    assert not any("pytest" in line or "check-install" in line for line in commands)
    assert "scripts/test" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_test_command_runs_the_production_install_check_as_its_own_step():
    commands = _commands(ROOT / "scripts" / "test")
    steps = [line for line in commands if re.match(r"step \"[^\"]+\" ", line)]
    assert 'step "production install" bash scripts/check-install' in steps
    # A failing step is recorded, not fatal, so the summary line names it.
    assert '"$@" || failed+=("$name")' in commands


def test_the_install_check_installs_without_extras_into_a_fresh_virtualenv():
    text = (ROOT / "scripts" / "check-install").read_text(encoding="utf-8")
    assert 'python3 -m venv "$venv"' in text
    assert re.search(r'pip install -q "\$repo"(?!\[)', text)
    assert "/health" in text
    assert "/metrics" in text
