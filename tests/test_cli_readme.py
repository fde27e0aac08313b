"""README's console examples print what README shows.

Every ```console block of README.md is split into commands (``$ `` lines,
with ``\\`` continuations) and the output README gives for each; each
command runs through the CLI's ``main`` and its output (stdout, then
stderr) must equal README's, line for line.  A ``...`` in a README line
stands for any text (README abbreviates long lines and elides timings).
Every console command of README is a ``symdiff diff`` or ``symdiff
compile`` command, so none is left unchecked.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from symdiff.cli.main import main

README = Path(__file__).resolve().parent.parent / "README.md"


def _examples():
    """(command, expected output lines) for each ``symdiff diff`` example."""
    blocks = re.findall(r"```console\n(.*?)```", README.read_text(), re.S)
    examples = []
    for block in blocks:
        command, expected = None, []
        lines = block.splitlines()
        k = 0
        while k < len(lines):
            line = lines[k]
            if line.startswith("$ "):
                if command is not None:
                    examples.append((command, expected))
                command, expected = line[2:], []
                while command.endswith("\\"):
                    k += 1
                    command = command[:-1] + " " + lines[k].strip()
            elif command is not None:
                expected.append(line)
            k += 1
        if command is not None:
            examples.append((command, expected))
    for _, expected in examples:
        while expected and not expected[-1]:
            expected.pop()                       # the blank line before the next '$'
    return examples


EXAMPLES = _examples()
CHECKED = ("symdiff diff ", "symdiff compile ")


def test_readme_examples_are_all_checked():
    assert len(EXAMPLES) >= 7
    assert all(command.startswith(CHECKED) for command, _ in EXAMPLES), \
        [c for c, _ in EXAMPLES if not c.startswith(CHECKED)]
    assert any("--shape" in command and "--hessian" in command for command, _ in EXAMPLES)
    assert any(command.startswith("symdiff compile ") for command, _ in EXAMPLES)


def _matches(pattern: str, line: str) -> bool:
    parts = [re.escape(p) for p in pattern.split("...")]
    return re.fullmatch(".*".join(parts), line) is not None


@pytest.mark.parametrize("command, expected", EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example(capsys, command, expected):
    argv = shlex.split(command)[1:]
    code = main(argv)
    out, err = capsys.readouterr()
    got = (out + err).rstrip("\n").splitlines()
    assert len(got) == len(expected), "\n".join(got)
    for want, line in zip(expected, got):
        assert _matches(want, line), (want, line)
    # README says errors exit with status 2, everything else with 0
    assert code == (2 if expected[0].startswith("error:") else 0)
