"""README's Python examples run and print what README shows.

The ```pycon blocks of README.md are doctests, run in order in one
namespace (a later block uses the names of an earlier one), with
``...`` standing for any text and whitespace runs compared as one space.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```pycon\n(.*?)```", README.read_text(), re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3
    assert any("sd.tensor" in block for block in BLOCKS)


def test_readme_python_examples(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path))
    parser = doctest.DocTestParser()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    namespace: dict = {}
    for k, block in enumerate(BLOCKS):
        test = parser.get_doctest(block, namespace, f"README pycon block {k + 1}",
                                  str(README), 0)
        runner.run(test, clear_globs=False)
        namespace = test.globs                   # DocTest copies the namespace it gets
    results = runner.summarize(verbose=False)
    if results.failed:
        pytest.fail(f"{results.failed} of {results.attempted} README examples failed "
                    "(the doctest report is above)")
    assert results.attempted >= 25
