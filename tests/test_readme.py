"""The README runs as written: every Python block and command line, offline, on small real data.

Python blocks run in order, one interpreter per section (later blocks use
names from earlier ones, as in a notebook); a failure names the block's line.
Command lines (```bash blocks, and the runnable lines of the un-fenced-language
command list: those without placeholders) run one by one through a shell in
the same folder: a success prints no traceback or warning on stderr, and a line
the README marks ``# fails`` exits non-zero with exactly one line on stderr.
The Quick start's two commands are CI's (``.ci/run``); the first two tests
keep them equal.

A block or line that cannot run carries, right before its fence, the marker
``<!-- readme-test: skip[ `LINE`]: REASON -->`` (plus a sentence the reader
sees); only those are skipped, and a marker whose line is gone fails the test.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

import readme_env

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
QUICK_START = "Quick start"
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip(?:\s+`(?P<line>[^`]+)`)?:\s*(?P<reason>.+?)\s*-->")
PLACEHOLDER = re.compile(r"[\[\]|]|\.\.\.|\b[A-Z][A-Z_]{1,}\b")
EXPECTED_FAILURE = re.compile(r"\s#\s*fails\b")
COMMAND_TIMEOUT_S = 600


@dataclasses.dataclass
class Block:
    """A fenced block of README.md."""

    language: str
    line: int  # README line of the block's first code line
    code: str
    section: str
    skip_block: str | None = None  # the reason, when the whole block is marked
    skip_lines: dict[str, str] = dataclasses.field(default_factory=dict)  # line -> reason

    def lines(self) -> list[tuple[int, str]]:
        """``(README line number, text)`` of each code line."""
        return [(self.line + offset, text) for offset, text in enumerate(self.code.split("\n"))]


def readme_blocks() -> list[Block]:
    """Every fenced block of README.md, with its section and the skip markers written before it."""
    blocks, section, fence, code, markers = [], "", None, [], []
    for number, text in enumerate(README.read_text().splitlines(), start=1):
        if fence is not None:
            if text.startswith("```"):
                fence.code = "\n".join(code)
                blocks.append(fence)
                fence = None
            else:
                code.append(text)
        elif text.startswith("```"):
            fence, code = Block(text[3:].strip(), number + 1, "", section), []
            for marker in markers:
                if marker["line"]:
                    fence.skip_lines[marker["line"].strip()] = marker["reason"]
                else:
                    fence.skip_block = marker["reason"]
            markers = []
        elif text.startswith("#"):
            section, markers = text.lstrip("#").strip(), []
        elif match := SKIP_MARKER.search(text):
            markers.append(match.groupdict())
    return blocks


def readme_commands() -> list[str]:
    """The Quick start's ```bash blocks: the demo command and the test command."""
    return [b.code for b in readme_blocks() if b.section == QUICK_START and b.language in ("bash", "sh")]


def python_sections() -> dict[str, list[Block]]:
    sections: dict[str, list[Block]] = {}
    for block in readme_blocks():
        if block.language == "python":
            sections.setdefault(block.section, []).append(block)
    return sections


def command_blocks() -> list[Block]:
    """```bash blocks outside the Quick start, and command lists (un-languaged blocks of ``hub`` lines)."""
    found = []
    for block in readme_blocks():
        if block.section == QUICK_START:
            continue
        lines = [text for _, text in block.lines() if text.strip()]
        if block.language in ("bash", "sh") or (not block.language and lines and all(t.startswith("hub ") for t in lines)):
            found.append(block)
    return found


def runnable(block: Block, text: str) -> bool:
    """Whether a command line runs as written (a ```bash line always; a command-list line without placeholders)."""
    if not text.strip() or text.lstrip().startswith("#"):
        return False
    return block.language in ("bash", "sh") or not PLACEHOLDER.search(text)


def test_quick_start_has_the_demo_and_the_test_command():
    demo, tests = readme_commands()[:2]
    assert "pip install ." in demo and demo.strip().endswith("hub demo")
    assert "python -m pytest" in tests


def test_ci_runs_exactly_the_readme_test_command():
    test_command = readme_commands()[1].strip().splitlines()[-1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines, f"'.ci/run' must run the README's test command: {test_command}"


def test_every_skip_marker_names_a_line_of_its_block():
    for block in readme_blocks():
        texts = {text.strip() for _, text in block.lines()}
        for line in block.skip_lines:
            assert line.strip() in texts, f"README.md:{block.line}: the skip marker names `{line}`, not in the block"


def test_the_harness_finds_the_examples():
    sections = python_sections()
    assert {"hub_core", "Using the hub from Python", "Style transfer"} <= set(sections)
    assert any(runnable(b, t) for b in command_blocks() for _, t in b.lines())


# -- running the examples ------------------------------------------------------
@pytest.fixture(scope="module")
def readme_folder(tmp_path_factory):
    """The user's folder (images, arrays) and the environment: offline, weights from a local mirror."""
    folder = tmp_path_factory.mktemp("readme")
    readme_env.prepare_user_files(folder)
    overlay = readme_env.write_weights_mirror(tmp_path_factory.mktemp("mirror"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_CORE_")}
    env.update(HUB_CORE_HOME=str(folder / ".hub_home"), HUB_CORE_MIRROR=str(overlay.parent),
               HUB_CORE_REGISTRY=str(overlay), HUB_CORE_OFFLINE="1", PYTHONUNBUFFERED="1",
               PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    return folder, env


# Runs a section's blocks in one namespace; compiled at their README lines so tracebacks point there.
DRIVER = """
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
exec(blocks.pop(0)["code"], namespace)
for block in blocks:
    try:
        exec(compile("\\n" * (block["line"] - 1) + block["code"], "README.md", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"README block at README.md line {block['line']} failed", file=sys.stderr)
        sys.exit(1)
"""


def _runnable_code(block: Block) -> str:
    """The block's code with its marked lines replaced by ``pass``."""
    return "\n".join(f"{text[:len(text) - len(text.lstrip())]}pass  # skipped: {block.skip_lines[text.strip()]}"
                     if text.strip() in block.skip_lines else text for _, text in block.lines())


@pytest.mark.parametrize("section", [
    pytest.param(name, id=name) for name in python_sections()
])
@pytest.mark.slow  # they train, or build full-size models
def test_python_blocks_run(readme_folder, section):
    folder, env = readme_folder
    blocks = [b for b in python_sections()[section] if b.skip_block is None]
    if not blocks:
        pytest.skip(f"every block of '{section}' is marked: {python_sections()[section][0].skip_block}")
    script = folder / f".blocks_{re.sub(r'[^A-Za-z0-9]+', '_', section)}.json"
    script.write_text(json.dumps([{"code": readme_env.PRELUDE, "line": 0}]
                                 + [{"code": _runnable_code(b), "line": b.line} for b in blocks]))
    result = subprocess.run([sys.executable, "-c", DRIVER, str(script)], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=COMMAND_TIMEOUT_S)
    assert result.returncode == 0, f"section '{section}':\n{result.stderr[-4000:]}"


def _command_lines() -> list[tuple[int, str, str | None]]:
    """``(README line, command, skip reason)`` of every runnable command line, in README order."""
    return [(number, text.strip(), block.skip_block or block.skip_lines.get(text.strip()))
            for block in command_blocks() for number, text in block.lines() if runnable(block, text)]


@pytest.mark.parametrize("number, command, skip", [
    pytest.param(number, command, skip, id=f"line{number}") for number, command, skip in _command_lines()
])
@pytest.mark.slow  # the folder and the weights mirror take a minute; several commands train
def test_command_line_runs(readme_folder, number, command, skip):
    if skip:
        pytest.skip(skip)
    folder, env = readme_folder
    result = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT_S)
    stderr = result.stderr.strip()
    where = f"README.md:{number}: {command}"
    if EXPECTED_FAILURE.search(command):
        assert result.returncode != 0, f"{where}: marked '# fails' but exited 0"
        assert len(stderr.splitlines()) == 1, f"{where}: a failing command must print one sentence, got:\n{stderr}"
        return
    assert result.returncode == 0, f"{where}: exit status {result.returncode}:\n{stderr[-4000:]}"
    noise = re.search(r"Traceback|warn|^[WEF]\d{4} ", stderr, re.I | re.M)  # also native WARNING/ERROR log lines
    assert noise is None, f"{where}: noise on stderr:\n{stderr}"
