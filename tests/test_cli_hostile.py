"""Every subcommand that writes a file, pointed at paths that cannot or must
not be written: a missing directory, a directory, a file in a directory
nobody may create files in (/proc), a full disk (/dev/full), an empty name
and the input file itself.  Each must exit with status 2 and one line
``error: ...`` naming the problem -- never a traceback, never a lost file
-- and odd but legitimate names (spaces) must work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from symdiff.cli.main import main

HAVE_CC = any(shutil.which(c) for c in ("cc", "gcc", "clang"))
HAVE_MPL = True
try:
    import matplotlib  # noqa: F401
except ImportError:
    HAVE_MPL = False

# (id, argv before the output path, output option, file extension, needs)
# Each command reads its program from -f FILE (so "the input file itself"
# is a path the command knows).
WRITERS = [
    ("compile-llvm", ["compile", "--emit", "llvm"], "-o", ".ll", None),
    ("compile-asm", ["compile", "--emit", "asm"], "-o", ".s", None),
    ("compile-header", ["compile", "--emit", "c-header"], "-o", ".h", None),
    ("compile-obj", ["compile", "--emit", "obj"], "-o", ".o", None),
    ("compile-shared", ["compile", "--emit", "shared"], "-o", ".so", "cc"),
    ("compile-tensor-shared", ["compile", "--shape", "X=3", "--emit", "shared"], "-o", ".so",
     "cc"),
    ("graph", ["graph"], "-o", ".dot", None),
    ("compare-fd-plot", ["compare", "--at", "x=1,y=2", "--fd-sweep"], "--plot", ".png", "mpl"),
]
SCALAR = "x*y + sin(x)"
TENSOR = "sum(exp(X))"


def _needs(need):
    if need == "cc" and not HAVE_CC:
        pytest.skip("no C compiler on this machine")
    if need == "mpl" and not HAVE_MPL:
        pytest.skip("matplotlib is not installed")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path / "cache"))


def _program(tmp_path, cmd_id: str, name: str = "prog.txt"):
    src = tmp_path / name
    src.write_text(TENSOR if "tensor" in cmd_id else SCALAR)
    return src


def _run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# symdiff graph (symdiff/cli/graph.py) words its path errors its own way;
# for it only the form of the error is checked.
OWN_WORDING = {"graph"}


def _assert_one_line_error(code, err, needle, where=""):
    assert code == 2, (where, err)
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), (where, err)
    if needle is not None:
        assert needle in lines[0], (where, needle, err)


def _bad_paths(tmp_path, ext):
    """(id, path, expected text of the error) of the hostile paths."""
    (tmp_path / "adir").mkdir()
    return [
        ("missing-dir", tmp_path / "no" / "such" / f"out{ext}", "does not exist"),
        ("a-directory", tmp_path / "adir", "is a directory"),
        ("dir-with-slash", f"{tmp_path / 'adir'}{os.sep}", "is a directory"),
        ("proc", f"/proc/symdiff-out{ext}", "cannot write /proc/symdiff-out"),
        ("empty", "", "the file name is empty"),
    ]


@pytest.mark.parametrize("cmd_id, argv, flag, ext, need", WRITERS, ids=[w[0] for w in WRITERS])
def test_unwritable_outputs_are_one_line_errors(tmp_path, capsys, cmd_id, argv, flag, ext,
                                                need):
    _needs(need)
    src = _program(tmp_path, cmd_id)
    for path_id, path, needle in _bad_paths(tmp_path, ext):
        code, out, err = _run(capsys, [*argv, "-f", src, flag, path])
        _assert_one_line_error(code, err, None if cmd_id in OWN_WORDING else needle, path_id)
        assert not os.path.exists(f"/proc/symdiff-out{ext}")
    assert src.read_text() in (SCALAR, TENSOR)


@pytest.mark.parametrize("cmd_id, argv, flag, ext, need", WRITERS,
                         ids=[w[0] for w in WRITERS])
def test_the_input_file_is_never_overwritten(tmp_path, capsys, cmd_id, argv, flag, ext, need):
    _needs(need)
    src = _program(tmp_path, cmd_id, name=f"prog{ext}")
    before = src.read_text()
    code, _, err = _run(capsys, [*argv, "-f", src, flag, src])
    _assert_one_line_error(code, err, "input file")
    assert src.read_text() == before


@pytest.mark.parametrize("cmd_id, argv, flag, ext, need", WRITERS, ids=[w[0] for w in WRITERS])
def test_paths_with_spaces_work(tmp_path, capsys, cmd_id, argv, flag, ext, need):
    _needs(need)
    src = _program(tmp_path, cmd_id)
    folder = tmp_path / "my outputs"
    folder.mkdir()
    path = folder / f"lib my kernel{ext}"
    code, out, err = _run(capsys, [*argv, "-f", src, flag, path])
    assert code == 0, err
    assert path.stat().st_size > 0
    assert err.startswith(f"wrote {path}")          # the message goes to stderr


@pytest.mark.parametrize("cmd_id, argv, flag, ext, need",
                         [w for w in WRITERS if w[3] not in (".o", ".so")],
                         ids=[w[0] for w in WRITERS if w[3] not in (".o", ".so")])
def test_a_full_disk_is_reported(tmp_path, capsys, cmd_id, argv, flag, ext, need):
    # (Object files and libraries are left out: their header would be
    # created beside /dev/full.)
    _needs(need)
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    src = _program(tmp_path, cmd_id)
    code, _, err = _run(capsys, [*argv, "-f", src, flag, "/dev/full"])
    _assert_one_line_error(code, err, None if cmd_id in OWN_WORDING else
                           "cannot write /dev/full: No space left on device")


@pytest.mark.skipif(not HAVE_CC, reason="no C compiler on this machine")
def test_a_full_disk_for_a_library_writes_no_header(tmp_path, capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    src = _program(tmp_path, "compile-shared")
    code, _, err = _run(capsys, ["compile", "-f", src, "--emit", "shared", "-o", "/dev/full"])
    _assert_one_line_error(code, err, "cannot write /dev/full: No space left on device")
    assert not os.path.exists("/dev/full.h")


def test_scaling_plot_path_is_checked_before_measuring(tmp_path, capsys):
    _needs("mpl")
    # The measurement would take seconds; the bad path fails at once.
    code, _, err = _run(capsys, ["compare", "--scaling", "prod", "--sizes", "10",
                                 "--plot", tmp_path / "no" / "s.png"])
    _assert_one_line_error(code, err, "does not exist")


def test_plot_format_matplotlib_cannot_write(tmp_path, capsys):
    _needs("mpl")
    src = _program(tmp_path, "compare")
    code, _, err = _run(capsys, ["compare", "-f", src, "--at", "x=1,y=2", "--fd-sweep",
                                 "--plot", tmp_path / "plot.docx"])
    _assert_one_line_error(code, err, "matplotlib cannot write .docx files")


def test_full_stdout_is_an_error_not_a_traceback(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "symdiff.cli", "diff", SCALAR],
                             stdout=full, stderr=subprocess.PIPE, text=True)
    assert res.returncode == 2
    assert res.stderr == "error: cannot write standard output: No space left on device\n"


def test_out_of_memory_is_a_one_line_error(monkeypatch, capsys):
    import symdiff.cli.diff as diff_module

    def exhausted(args):
        raise MemoryError

    monkeypatch.setattr(diff_module, "cmd_diff", exhausted)
    code, out, err = _run(capsys, ["diff", "x"])
    assert (code, out) == (2, "")
    assert err == "error: out of memory (try smaller sizes or a smaller expression)\n"
