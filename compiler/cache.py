"""Object-code cache: in memory (per process) and on disk.

Key: SHA-256 of what the object code *is* -- the emitted LLVM IR text, every
option that affects code generation (the IR pipeline and codegen levels, SLP
and loop vectorization, PIC, code model:
:func:`compiler.backend.codegen_options`), llvmlite's and LLVM's versions,
the target triple, the host CPU name and its feature string (numba keys its
cache on the same things).  The IR text
already carries every op's lowering (an edited hook in the op table changes
it), fast-math flags and vecmath's code, so nothing about the sources needs
hashing; a cache hit costs one emission of the IR (measured in
benchmarks/bench_compiled.py).

Disk location: ``$SYMDIFF_CACHE_DIR``, else ``$XDG_CACHE_HOME/symdiff``, else
``~/.cache/symdiff``.  ``SYMDIFF_CACHE=0`` disables caching (disk and memory).
A leading ``~`` in ``SYMDIFF_CACHE_DIR`` is expanded (a shell leaves it alone
in ``SYMDIFF_CACHE_DIR=~/x``) and a relative path is made absolute the first
time it is used, so a later ``os.chdir`` does not move the cache; ``$VAR``
is not expanded (the shell has done that; ``$`` is a legal path character).
A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification says.

Trust: an entry is object code that gets loaded and run; its SHA-256
digest only detects damage, not tampering.  So the disk cache is used only
in a directory that no one else can write: owned by the current user and
not writable by group or others (:func:`directory_problem`).  Directories
the cache creates (and missing parents) are created 0700.  An unsafe
directory is not used at all -- compiles still work, with the in-process
cache only -- and a :class:`CacheWarning` says why once per directory and
process (``load`` reports ``"untrusted"``).  Failing the compile instead
would let a misconfigured environment variable break every program that
compiles anything, for a cache that is only an optimization.

Hostile entries: an entry is opened with ``O_NOFOLLOW | O_NONBLOCK`` and
used only if ``fstat`` says it is a regular file of at most
:data:`MAX_ENTRY_BYTES` (a symlink, FIFO, device or huge file is never
read, nor waited on), and no more than its size is read.  Such an entry
counts as corrupt: rebuilt, replaced atomically, and reported with a
:class:`CacheWarning`.

Size: the entries on disk are kept under :func:`max_bytes` (default
:data:`DEFAULT_MAX_BYTES`, 256 MiB; ``SYMDIFF_CACHE_MAX_BYTES`` overrides,
e.g. ``64M`` or ``1G``).  Each store evicts the least recently used entries
beyond it (a disk hit touches its entry's mtime; :func:`evict`).  ``symdiff
cache info|clear`` shows and empties the directory (:func:`info`,
:func:`clear`).  Only files named like our entries (and our temporary
files) are ever counted or removed.

Entry format (one file per key, ``<key hex>.sdobj``)::

    magic    12 bytes  b"SYMDIFF-OBJ\\0"
    version   u32      FORMAT_VERSION
    key      32 bytes  the full key (guards against renamed/foreign files)
    length    u64      payload length
    digest   32 bytes  SHA-256 of the payload
    payload            the ELF object code

A file that is short, foreign, from another format version, for another key
or whose payload does not match its digest is ignored (and overwritten by
the rebuilt entry).  Writes go to a temporary file in the same directory and
are published with ``os.replace``, so readers never see half an entry.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
import tempfile
import warnings
from collections import OrderedDict
from pathlib import Path

__all__ = ["FORMAT_VERSION", "DEFAULT_MAX_BYTES", "MAX_ENTRY_BYTES", "CacheWarning",
           "cache_enabled", "cache_dir", "directory_problem", "max_bytes", "make_key", "load",
           "store", "entry_path", "entries", "evict", "info", "clear", "clear_memory"]

FORMAT_VERSION = 1
MAGIC = b"SYMDIFF-OBJ\x00"
_HEADER = struct.Struct("<12sI32sQ32s")

#: Disk budget when ``SYMDIFF_CACHE_MAX_BYTES`` is unset: room for ~20,000
#: small kernels (the lecture gradient: 2 KB scalar + 11 KB batch module)
#: or ~900 large ones (the MLP gradient's object: 280 KB).
DEFAULT_MAX_BYTES = 256 << 20

# Our file names: entries, and the temporary files store() publishes them
# from.  Nothing else in the directory is ever counted or removed.
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.sdobj\Z")
_TEMP_NAME = re.compile(r"\.tmp-[A-Za-z0-9_]+\.sdobj\Z")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

#: Largest entry file ever read (header included) and ever written.  The
#: largest objects we write are a few MB (a 10^5-op program: ~6 MB; the MLP
#: gradient: 280 KB), so 256 MiB is generous while a planted multi-GB file
#: is refused by its size alone.
MAX_ENTRY_BYTES = 256 << 20

# Open flags for reading an entry: never follow a symlink (ELOOP instead),
# never block on a FIFO or device (O_NONBLOCK; fstat then refuses it).
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


class CacheWarning(UserWarning):
    """The disk cache skipped something: an unsafe directory or a hostile
    entry (compiling goes on without it)."""


# Directories and entries already warned about in this process (a warning
# per compile would drown the user).
_WARNED: set = set()


def _warn_once(what: str, message: str) -> None:
    if what not in _WARNED:
        _WARNED.add(what)
        warnings.warn(message, CacheWarning, stacklevel=3)

# In-process cache: key -> object bytes.  Bounded by total size.
_MEMORY: "OrderedDict[bytes, bytes]" = OrderedDict()
_MEMORY_MAX_BYTES = 64 << 20
_memory_bytes = 0


def cache_enabled() -> bool:
    """False when ``SYMDIFF_CACHE`` is set to 0/false/no/off."""
    return os.environ.get("SYMDIFF_CACHE", "1").strip().lower() not in ("0", "false", "no",
                                                                         "off")


# (SYMDIFF_CACHE_DIR, HOME) -> absolute directory, fixed at first use.
_RESOLVED: dict = {}


def cache_dir() -> Path:
    """The disk cache directory, absolute (not created here):
    ``SYMDIFF_CACHE_DIR`` with ``~`` expanded and, if relative, taken
    against the working directory of the first call that saw this value;
    else ``$XDG_CACHE_HOME/symdiff`` (when absolute), else
    ``~/.cache/symdiff``."""
    raw = os.environ.get("SYMDIFF_CACHE_DIR")
    if raw:
        memo = (raw, os.environ.get("HOME"))
        d = _RESOLVED.get(memo)
        if d is None:
            d = _RESOLVED[memo] = Path(os.path.abspath(os.path.expanduser(raw)))
        return d
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "symdiff"


def directory_problem(d: Path) -> str | None:
    """Why the existing directory ``d`` must not hold the cache (it is
    not a directory, is owned by another user, or is writable by group or
    others: anyone who can write there can get code run in this process),
    or None if it is safe.  A missing directory is no problem (we create it
    0700)."""
    try:
        st = os.stat(d)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot inspect it ({e.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None and st.st_uid != geteuid():
        return f"it is owned by uid {st.st_uid}, not by this user (uid {geteuid()})"
    if os.name == "posix" and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = " and ".join(w for w, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH))
                           if st.st_mode & bit)
        return (f"it is writable by {who} (mode {stat.S_IMODE(st.st_mode):o}; "
                "chmod go-w it)")
    return None


def _usable_dir(d: Path) -> bool:
    """True if the cache may read and write in ``d``; warns (once) if not."""
    problem = directory_problem(d)
    if problem is None:
        return True
    _warn_once(("dir", str(d)), f"symdiff: not using the compile cache in {d}: {problem}; "
               "compiling without the disk cache (set SYMDIFF_CACHE_DIR to a private "
               "directory)")
    return False


def _make_private_dirs(d: Path) -> None:
    """Create ``d`` and any missing parents with mode 0700 (os.makedirs
    gives new parents the default mode)."""
    missing = []
    p = d
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:  # created meanwhile by another process
            pass


def max_bytes() -> int:
    """The disk budget in bytes: ``SYMDIFF_CACHE_MAX_BYTES`` (an integer,
    optionally with a K/M/G/T suffix, powers of 1024; 0 keeps nothing on
    disk) or :data:`DEFAULT_MAX_BYTES`.  Raises ValueError for a malformed
    value rather than guessing."""
    raw = os.environ.get("SYMDIFF_CACHE_MAX_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    m = re.fullmatch(r"(\d+)\s*([kmgt]?)(?:i?b)?", raw.lower())
    if m is None:
        raise ValueError(f"SYMDIFF_CACHE_MAX_BYTES must be a number of bytes such as "
                         f"268435456, 256M or 1G, got {raw!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def make_key(ir_text: str, codegen: dict, host: tuple) -> bytes:
    """The 32-byte cache key of one build: ``ir_text`` (the module as
    emitted), ``codegen`` ({option: value} of everything else the backend
    does with it) and ``host`` (target triple, CPU name, CPU features)."""
    import llvmlite
    import llvmlite.binding as llvm

    h = hashlib.sha256()
    parts = ["symdiff-compiler", str(FORMAT_VERSION), llvmlite.__version__,
             repr(llvm.llvm_version_info), *host, repr(sorted(codegen.items()))]
    for p in parts:
        h.update(p.encode() + b"\0")
    h.update(ir_text.encode())
    return h.digest()


def entry_path(key: bytes) -> Path:
    """Where the disk entry for ``key`` lives."""
    return cache_dir() / (key.hex() + ".sdobj")


def _memory_get(key: bytes):
    obj = _MEMORY.get(key)
    if obj is not None:
        _MEMORY.move_to_end(key)
    return obj


def _memory_put(key: bytes, obj: bytes) -> None:
    global _memory_bytes
    if key in _MEMORY:
        return
    _MEMORY[key] = obj
    _memory_bytes += len(obj)
    while _memory_bytes > _MEMORY_MAX_BYTES and len(_MEMORY) > 1:
        _, old = _MEMORY.popitem(last=False)
        _memory_bytes -= len(old)


def load(key: bytes) -> tuple[bytes | None, str]:
    """(object bytes or None, where: "memory" / "disk" / "miss" / "corrupt"
    / "untrusted" -- the directory is unsafe and was not read, see
    :func:`directory_problem`)."""
    obj = _memory_get(key)
    if obj is not None:
        return obj, "memory"
    path = entry_path(key)
    if not _usable_dir(path.parent):
        return None, "untrusted"
    data = _read_entry(path)
    if data is None:
        return None, "miss"
    obj = _parse_entry(data, key) if data else None
    if obj is None:
        return None, "corrupt"
    _memory_put(key, obj)
    return obj, "disk"


def _read_entry(path: Path) -> bytes | None:
    """The bytes of the entry file ``path``; None if there is none (or it
    cannot be opened); b"" if it is not a regular file of plausible size
    (warned about).  Never follows a symlink, blocks on a FIFO or device,
    or reads more than :data:`MAX_ENTRY_BYTES`."""
    if not getattr(os, "O_NOFOLLOW", 0):  # (no O_NOFOLLOW: check the name first)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return _hostile(path, "not a regular file")
        except OSError:
            return None
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        if os.path.islink(path):  # ELOOP from O_NOFOLLOW
            return _hostile(path, "a symbolic link")
        return None  # missing or unreadable: a miss (rebuilt, and replaced if we may)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return _hostile(path, "not a regular file")
        if st.st_size > MAX_ENTRY_BYTES:
            return _hostile(path, f"{st.st_size:,} bytes, more than any entry "
                            f"({MAX_ENTRY_BYTES:,})")
        chunks, want = [], st.st_size + 1  # one byte more: a file that grew is corrupt
        while want > 0:
            chunk = os.read(fd, min(want, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            want -= len(chunk)
        try:
            os.utime(fd)  # last use, for least-recently-used eviction
        except (OSError, NotImplementedError):
            pass  # a read-only cache still serves hits; it just ages by creation
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _hostile(path: Path, what: str) -> bytes:
    _warn_once(("entry", str(path), what), f"symdiff: ignoring compile cache entry {path}: {what}; "
               "rebuilding it")
    return b""


def _parse_entry(data: bytes, key: bytes) -> bytes | None:
    if len(data) < _HEADER.size:
        return None
    magic, version, stored_key, length, digest = _HEADER.unpack_from(data)
    if magic != MAGIC or version != FORMAT_VERSION or stored_key != key:
        return None
    payload = data[_HEADER.size:]
    if len(payload) != length or hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def store(key: bytes, obj: bytes) -> Path | None:
    """Remember ``obj`` in memory and write its disk entry atomically,
    then evict least recently used entries beyond :func:`max_bytes` (the new
    entry too, if it alone exceeds the budget).  Returns the path written,
    or None.  Never raises on I/O problems: a cache that cannot be written
    is just a cache miss next time."""
    _memory_put(key, obj)
    path = entry_path(key)
    if _HEADER.size + len(obj) > MAX_ENTRY_BYTES:
        return None  # load() would refuse it
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, key, len(obj), hashlib.sha256(obj).digest())
    tmp = None
    try:
        _make_private_dirs(path.parent)
        if not _usable_dir(path.parent):
            return None
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".sdobj", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            f.write(obj)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        return None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    limit = max_bytes()  # a malformed SYMDIFF_CACHE_MAX_BYTES raises here, loudly
    try:
        evict(limit, directory=path.parent)
    except OSError:
        pass  # e.g. a shared directory we may add to but not delete from
    return path if path.exists() else None


def entries(directory: Path | None = None) -> list[tuple[Path, int, int]]:
    """Our entries in the cache directory as (path, size in bytes, mtime in
    ns), least recently used first.  A missing directory has none."""
    d = cache_dir() if directory is None else Path(directory)
    found = []
    try:
        scan = os.scandir(d)
    except FileNotFoundError:
        return []
    with scan:
        for e in scan:
            if _ENTRY_NAME.match(e.name):
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed by another process meanwhile
                    continue
                found.append((Path(e.path), st.st_size, st.st_mtime_ns))
    found.sort(key=lambda t: (t[2], t[0].name))
    return found


def evict(limit: int, *, directory: Path | None = None) -> tuple[int, int]:
    """Remove least recently used entries until ours total at most ``limit``
    bytes.  Returns (entries removed, bytes freed).  Entries another process
    removed first are skipped."""
    found = entries(directory)
    total = sum(size for _, size, _ in found)
    removed = freed = 0
    for path, size, _ in found:
        if total <= limit:
            break
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        else:
            removed += 1
            freed += size
        total -= size
    return removed, freed


def info() -> dict:
    """What ``symdiff cache info`` prints: ``directory``, ``exists``,
    ``entries`` (count), ``bytes`` (their total), ``max_bytes`` (the
    budget), ``limit_from_env``, ``enabled`` and ``problem`` (why the
    directory is not used, :func:`directory_problem`, or None)."""
    d = cache_dir()
    found = entries(d)
    return {"directory": d, "exists": d.is_dir(), "entries": len(found),
            "bytes": sum(size for _, size, _ in found), "max_bytes": max_bytes(),
            "limit_from_env": bool(os.environ.get("SYMDIFF_CACHE_MAX_BYTES", "").strip()),
            "enabled": cache_enabled(), "problem": directory_problem(d)}


def clear() -> tuple[int, int, int]:
    """Remove every entry and leftover temporary file of ours from the disk
    cache (other files are left alone) and forget the in-process cache.
    Returns (entries removed, temporary files removed, bytes freed)."""
    clear_memory()
    d = cache_dir()
    n_entries = n_temp = freed = 0
    try:
        scan = os.scandir(d)
    except FileNotFoundError:
        return 0, 0, 0
    with scan:
        names = [(e.name, e.path) for e in scan
                 if _ENTRY_NAME.match(e.name) or _TEMP_NAME.match(e.name)]
    for name, path in names:
        try:
            size = os.stat(path, follow_symlinks=False).st_size
            os.unlink(path)
        except FileNotFoundError:
            continue
        freed += size
        if _ENTRY_NAME.match(name):
            n_entries += 1
        else:
            n_temp += 1
    return n_entries, n_temp, freed


def clear_memory() -> None:
    """Forget the in-process cache (tests use this to force disk reads)."""
    global _memory_bytes
    _MEMORY.clear()
    _memory_bytes = 0
