"""`symdiff cache info|clear`: output, what is removed, and errors (exit
status 2 with a one-line message)."""

from __future__ import annotations

import pytest

from compiler import cache as ccache
from symdiff.cli.main import main


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(d))
    monkeypatch.delenv("SYMDIFF_CACHE_MAX_BYTES", raising=False)
    monkeypatch.delenv("SYMDIFF_CACHE", raising=False)
    ccache.clear_memory()
    yield d
    ccache.clear_memory()


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _fill(capsys):
    # Two compiled kernels through the CLI itself (f and its gradient).
    for expr in ("x^2*sin(x)", "exp(x)*y"):
        assert run(capsys, "compile", expr)[0] == 0


def test_info_on_an_empty_cache(capsys, cache_dir):
    code, out, err = run(capsys, "cache", "info")
    assert code == 0 and err == ""
    assert out.splitlines() == [
        f"directory: {cache_dir} (not created yet)",
        "entries:   0",
        "size:      0 bytes",
        "limit:     256.0 MiB (default; set SYMDIFF_CACHE_MAX_BYTES to change)",
    ]


def test_info_counts_entries_and_shows_the_limit(capsys, cache_dir, monkeypatch):
    _fill(capsys)
    total = sum(s for _, s, _ in ccache.entries())
    monkeypatch.setenv("SYMDIFF_CACHE_MAX_BYTES", "64M")
    monkeypatch.setenv("SYMDIFF_CACHE", "0")
    code, out, _ = run(capsys, "cache", "info")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"directory: {cache_dir}"
    # The two kernels, and vecmath's runtime objects if this process had
    # not built them before (compiler.runtime).
    n = len(ccache.entries())
    assert n >= 2 and lines[1] == f"entries:   {n}"
    assert lines[2].startswith("size:      ") and f"({total:,} bytes)" in lines[2]
    assert lines[3] == "limit:     64.0 MiB (SYMDIFF_CACHE_MAX_BYTES)"
    assert lines[4] == "caching:   off (SYMDIFF_CACHE=0)"


def test_clear_removes_only_our_files(capsys, cache_dir):
    _fill(capsys)
    (cache_dir / ".tmp-crash1.sdobj").write_bytes(b"partial")
    (cache_dir / "keep.txt").write_text("someone else's")
    n = len(ccache.entries())
    code, out, err = run(capsys, "cache", "clear")
    assert code == 0 and err == ""
    assert out.startswith(f"removed {n} entries and 1 temporary file (")
    assert out.rstrip().endswith(f"from {cache_dir}")
    assert [p.name for p in cache_dir.iterdir()] == ["keep.txt"]
    code, out, _ = run(capsys, "cache", "clear")
    assert out == f"removed 0 entries (0 bytes) from {cache_dir}\n"


@pytest.mark.parametrize("setup, argv, message", [
    ("none", ["cache"], "error: symdiff cache needs an action: info or clear"),
    ("file", ["cache", "info"], "is not a directory"),
    ("file", ["cache", "clear"], "is not a directory"),
    ("bad-limit", ["cache", "info"], "error: SYMDIFF_CACHE_MAX_BYTES must be a number"),
])
def test_user_errors_exit_2_with_one_line(capsys, cache_dir, monkeypatch, setup, argv,
                                          message):
    if setup == "file":
        cache_dir.parent.mkdir(exist_ok=True)
        cache_dir.write_text("a file where the cache directory should be")
    if setup == "bad-limit":
        monkeypatch.setenv("SYMDIFF_CACHE_MAX_BYTES", "lots")
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert "Traceback" not in err


def test_unknown_action_is_an_argparse_error(capsys, cache_dir):
    with pytest.raises(SystemExit) as exc:
        main(["cache", "purge"])
    assert exc.value.code == 2
    assert "invalid choice: 'purge'" in capsys.readouterr().err


def test_compile_with_an_unsafe_cache_dir_works_and_writes_nothing(capsys, cache_dir):
    # A cache directory others can write is not used (compiler.cache):
    # the command still compiles and prints its values.
    cache_dir.mkdir(mode=0o700)
    cache_dir.chmod(0o777)
    ccache._WARNED.clear()          # warned once per process: this test must see it
    code, out, err = run(capsys, "compile", "x^2*sin(x)", "--at", "x=2")
    assert code == 0
    # The CLI prints the compiler's warning like its own messages, not as
    # Python's "file:line: CacheWarning: ..." line.
    assert err.startswith("warning: symdiff: not using the compile cache in ")
    assert "writable by group and others" in err and "CacheWarning" not in err
    assert "  f     = 3.637189707302727" in out.splitlines()
    assert list(cache_dir.iterdir()) == []
    assert ccache.info()["problem"] == \
        "it is writable by group and others (mode 777; chmod go-w it)"
