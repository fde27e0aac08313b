"""Object-code cache: in memory (per process) and on disk.

Key: SHA-256 of what the object code *is* -- the emitted LLVM IR text, every
option that affects code generation (the IR pipeline and codegen levels, SLP
and loop vectorization, PIC, code model; :func:`compiler.backend.codegen_options`),
llvmlite's and LLVM's versions, the target triple, the host CPU name and
its feature string (numba keys its cache on the same things).  The IR text
already carries every op's lowering (an edited hook in the op table changes
it), fast-math flags and vecmath's code, so nothing about the sources needs
hashing; a cache hit costs one emission of the IR (measured in
benchmarks/bench_compiled.py).

Disk location: ``$SYMDIFF_CACHE_DIR``, else ``$XDG_CACHE_HOME/symdiff``, else
``~/.cache/symdiff``.  ``SYMDIFF_CACHE=0`` disables caching (disk and memory).

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
import struct
import tempfile
from collections import OrderedDict
from pathlib import Path

__all__ = ["FORMAT_VERSION", "cache_enabled", "cache_dir", "make_key", "load", "store",
           "entry_path"]

FORMAT_VERSION = 1
MAGIC = b"SYMDIFF-OBJ\x00"
_HEADER = struct.Struct("<12sI32sQ32s")

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


def load(key: bytes, *, disk: bool = True) -> tuple[bytes | None, str]:
    """(object bytes or None, where: "memory" / "disk" / "miss" / "corrupt")."""
    obj = _memory_get(key)
    if obj is not None:
        return obj, "memory"
    if not disk:
        return None, "miss"
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


def store(key: bytes, obj: bytes, *, disk: bool = True) -> Path | None:
    """Remember ``obj`` in memory and (if ``disk``) write its entry atomically.
    Returns the path written, or None.  Never raises on I/O problems: a
    cache that cannot be written is just a cache miss next time."""
    _memory_put(key, obj)
    if not disk:
        return None
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
        return path
    except OSError:
        return None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def clear_memory() -> None:
    """Forget the in-process cache (tests use this to force disk reads)."""
    global _memory_bytes
    _MEMORY.clear()
    _memory_bytes = 0
