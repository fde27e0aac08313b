"""``symdiff cache info|clear``: the compiled-code cache on disk.

``info`` prints the directory, the number of entries, their total size and
the size limit; ``clear`` removes the entries (and leftover temporary files
of the compiler's, never other files) and says how many.  The compiler
package is imported only when this command runs.
"""

from __future__ import annotations

from symdiff.cli.common import UsageError

__all__ = ["register", "cmd_cache"]


def _size(n: int, exact: bool = True) -> str:
    """Bytes in binary units (and, with ``exact``, the byte count)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            text = f"{n / scale:.1f} {unit}"
            return f"{text} ({n:,} bytes)" if exact else text
    return f"{n} bytes"


def _info(cache, as_json: bool = False) -> int:
    st = cache.info()
    if as_json:
        from symdiff.cli.common import print_json

        print_json({"directory": str(st["directory"]), "exists": st["exists"],
                    "entries": st["entries"], "bytes": st["bytes"],
                    "max_bytes": st["max_bytes"], "enabled": st["enabled"],
                    "problem": st.get("problem")})
        return 0
    where = str(st["directory"])
    if not st["exists"]:
        where += " (not created yet)"
    source = ("SYMDIFF_CACHE_MAX_BYTES" if st["limit_from_env"]
              else "default; set SYMDIFF_CACHE_MAX_BYTES to change")
    print(f"directory: {where}")
    print(f"entries:   {st['entries']}")
    print(f"size:      {_size(st['bytes'])}")
    print(f"limit:     {_size(st['max_bytes'], exact=False)} ({source})")
    if not st["enabled"]:
        print("caching:   off (SYMDIFF_CACHE=0)")
    if st.get("problem"):
        print(f"not used:  {st['problem']}")
    return 0


def _clear(cache, as_json: bool = False) -> int:
    d = cache.cache_dir()
    n, tmp, freed = cache.clear()
    if as_json:
        from symdiff.cli.common import print_json

        print_json({"directory": str(d), "removed_entries": n, "removed_temporary_files": tmp,
                    "freed_bytes": freed})
        return 0
    what = f"{n} entr{'y' if n == 1 else 'ies'}"
    if tmp:
        what += f" and {tmp} temporary file{'' if tmp == 1 else 's'}"
    print(f"removed {what} ({_size(freed, exact=False)}) from {d}")
    return 0


def cmd_cache(args) -> int:
    """Show (``info``) or empty (``clear``) the disk cache of compiled code."""
    from compiler import cache

    if args.action is None:
        raise UsageError("symdiff cache needs an action: info or clear")
    d = cache.cache_dir()
    if d.exists() and not d.is_dir():
        raise UsageError(f"the cache path {d} is not a directory "
                         "(set SYMDIFF_CACHE_DIR to another place)")
    try:
        as_json = args.format == "json"
        return _info(cache, as_json) if args.action == "info" else _clear(cache, as_json)
    except OSError as exc:  # e.g. a directory we may not read or delete from
        raise UsageError(f"cache {args.action}: {exc.strerror or exc}: "
                         f"{exc.filename or d}") from None


def register(sub) -> None:
    """Add the ``cache`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("cache", help="show or clear the disk cache of compiled code")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    for action, text in (("info", "directory, entries, total size and size limit"),
                         ("clear", "remove all cached object code")):
        a = actions.add_parser(action, help=text)
        a.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_cache)
