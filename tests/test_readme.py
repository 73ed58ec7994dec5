"""The README's two commands are the ones CI and newcomers run."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)\n(.*?)\n```", quick_start, flags=re.S)


def test_quick_start_has_the_demo_and_the_test_command():
    demo, tests = readme_commands()[:2]
    assert "pip install ." in demo and demo.strip().endswith("hub demo")
    assert "python -m pytest" in tests


def test_ci_runs_exactly_the_readme_test_command():
    test_command = readme_commands()[1].strip().splitlines()[-1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines, f"'.ci/run' must run the README's test command: {test_command}"
