"""Index files on disk: written through a temporary file and an atomic rename,
checked by size and CRC32 against a JSON sidecar, hashed with SHA-256 for
callers that keep the digests out of the files' writer's reach."""

from __future__ import annotations

import hashlib
import json
import os
import zlib

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


def write_json(path: str, doc: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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

