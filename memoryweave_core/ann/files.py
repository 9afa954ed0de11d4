"""Index files on disk: written through a temporary file and an atomic rename,
checked by size and CRC32 against a JSON sidecar, hashed with SHA-256 for
callers that keep the digests out of the files' writer's reach."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from typing import IO, Callable

#: Version of the sidecar's layout.
FORMAT = 1


def crc(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return crc


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: str) -> tuple[str, dict]:
    """SHA-256 (hex) and the sidecar's ``{"size", "crc32"}`` of a file, in one read."""
    h, c, size = hashlib.sha256(), 0, 0
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
            c = zlib.crc32(block, c)
            size += len(block)
    return h.hexdigest(), {"size": size, "crc32": c}


def temp_beside(path: str) -> str:
    """A new, empty temporary file in ``path``'s folder, created exclusively
    (``mkstemp``: a random name, ``O_EXCL``), so a link planted at a
    predictable ``.tmp`` name is never written through."""
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=os.path.dirname(path) or ".")
    os.close(fd)
    return tmp


def discard(tmp: str) -> None:
    try:
        os.remove(tmp)
    except FileNotFoundError:
        pass


def write_atomic(path: str, write: Callable[[IO[bytes]], object]) -> None:
    """``write(f)`` into a fresh temporary file, fsync, rename it to ``path``;
    on any failure the temporary file is removed and ``path`` is untouched."""
    tmp = temp_beside(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise


def write_json(path: str, doc: dict) -> None:
    write_atomic(path, lambda f: f.write(json.dumps(doc).encode()))


def read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


def files_ok(meta: dict) -> bool:
    """Every data file named in the sidecar exists with the recorded size and CRC."""
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for path, want in files.items():
        try:
            if os.path.getsize(path) != want["size"] or crc(path) != want["crc32"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
    return True


def remove_files(path: str) -> None:
    """Delete an index saved at ``path`` (sidecar first, so a half-removed one reads as missing)."""
    for p in (path + ".json", path, path + ".keys.npy"):
        try:
            os.remove(p)
        except FileNotFoundError:
            pass



class Staged:
    """Index files written to temporary names, not yet in place.

    :meth:`publish` renames each into place and writes the sidecar ``meta``
    (which names the files, by base name, with their sizes and CRC32s); :meth:`discard` removes them.  An owner that
    records ``digests`` somewhere trusted publishes inside that record's
    transaction, so the slow part (writing) holds no lock of the owner's."""

    def __init__(self, files: dict[str, str], sidecar: str, meta: dict, digests: dict) -> None:
        self.files = files  # final path -> temporary path
        self.sidecar = sidecar
        self.meta = meta
        self.digests = digests

    def publish(self) -> None:
        try:
            for path, tmp in self.files.items():
                os.replace(tmp, path)
        except BaseException:
            self.discard()
            raise
        write_json(self.sidecar, self.meta)

    def discard(self) -> None:
        for tmp in self.files.values():
            discard(tmp)
