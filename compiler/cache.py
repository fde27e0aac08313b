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
import struct
import tempfile
from collections import OrderedDict
from pathlib import Path

__all__ = ["FORMAT_VERSION", "DEFAULT_MAX_BYTES", "cache_enabled", "cache_dir", "max_bytes",
           "make_key", "load", "store", "entry_path", "entries", "evict", "info", "clear",
           "clear_memory"]

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

# In-process cache: key -> object bytes.  Bounded by total size.
_MEMORY: "OrderedDict[bytes, bytes]" = OrderedDict()
_MEMORY_MAX_BYTES = 64 << 20
_memory_bytes = 0


def cache_enabled() -> bool:
    """False when ``SYMDIFF_CACHE`` is set to 0/false/no/off."""
    return os.environ.get("SYMDIFF_CACHE", "1").strip().lower() not in ("0", "false", "no",
                                                                         "off")


def cache_dir() -> Path:
    """The disk cache directory (not created here)."""
    d = os.environ.get("SYMDIFF_CACHE_DIR")
    if d:
        return Path(d)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "symdiff"


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
    """(object bytes or None, where: "memory" / "disk" / "miss" / "corrupt")."""
    obj = _memory_get(key)
    if obj is not None:
        return obj, "memory"
    path = entry_path(key)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None, "miss"
    obj = _parse_entry(data, key)
    if obj is None:
        return None, "corrupt"
    _memory_put(key, obj)
    try:
        os.utime(path)  # last use, for least-recently-used eviction
    except OSError:
        pass  # a read-only cache still serves hits; it just ages by creation
    return obj, "disk"


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
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, key, len(obj), hashlib.sha256(obj).digest())
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
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
    budget), ``limit_from_env`` and ``enabled``."""
    d = cache_dir()
    found = entries(d)
    return {"directory": d, "exists": d.is_dir(), "entries": len(found),
            "bytes": sum(size for _, size, _ in found), "max_bytes": max_bytes(),
            "limit_from_env": bool(os.environ.get("SYMDIFF_CACHE_MAX_BYTES", "").strip()),
            "enabled": cache_enabled()}


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
