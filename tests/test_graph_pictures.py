"""The pictures: ``symdiff graph`` (messages on stderr, ``--format json``) and
the drawings rendered by the real Graphviz, whose size is checked (a tape
drawn left to right was 2,879 x 200 pixels)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys

import pytest

from symdiff.numeric.reverse import Scalar

RUNNING = "log(1+exp(-(x+y)))*(x+y)"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz 'dot' is not installed (apt-get install graphviz)")


def _symdiff(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "symdiff", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def _png_size(path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_graph_json_without_output_carries_the_dot_text():
    r = _symdiff("graph", RUNNING, "--grad", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["output"] is None and doc["format"] == "dot"
    assert (doc["nodes"], doc["inputs"], doc["constants"], doc["operations"]) == (12, 2, 1, 9)
    assert doc["dot"].startswith("digraph symdiff {")


def test_graph_reports_the_file_on_stderr(tmp_path):
    r = _symdiff("graph", RUNNING, "-o", "g.dot", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert r.stderr.strip() == ("wrote g.dot: 9 nodes (2 inputs, 1 constant, "
                                "6 operations)")
    r = _symdiff("graph", RUNNING, "-o", "h.dot", "--format", "json", cwd=tmp_path)
    assert json.loads(r.stdout) == {"output": "h.dot", "format": "dot", "nodes": 9,
                                    "inputs": 2, "constants": 1, "operations": 6}


@needs_dot
def test_graph_png_is_upright(tmp_path):
    r = _symdiff("graph", RUNNING, "--grad", "-o", "g.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    width, height = _png_size(tmp_path / "g.png")
    assert height > width           # flows bottom to top, like the lectures' drawings


@needs_dot
def test_tape_picture_is_compact(tmp_path):
    # The running example's tape, z1 ... z8 (the lectures' numbering).
    x, y = Scalar(1.0, label="x"), Scalar(2.0, label="y")
    s = x + y
    out = (1 + (-s).exp()).log() * s
    out.backward()
    path = tmp_path / "tape.png"
    subprocess.run(["dot", "-Tpng", "-o", str(path)], input=out.to_dot().encode(),
                   check=True, timeout=60)
    width, height = _png_size(path)
    assert width < 1200 and height < 1200, (width, height)
    assert 0.5 < width / height < 2.5
