"""The rows an add or a delete writes, inside the store's transaction.

Each function only touches the database; the store updates its caches and
indexes from what they return once the transaction has committed.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Callable, Sequence

import numpy as np

from ...errors import DimensionMismatchError
from ...trace import Trace
from . import state
from .connection import Database, chunks, marks
from .indexes import FIELDS, digest_key
from .postings import fts_doc

#: ``nsid(namespace)``: a namespace's id, its row created in the transaction when new.
NsId = Callable[[str], int]
#: ``encode(conn, namespace ids, token lists)``: the ``tok_ids`` cells (tokenids.StoredVocabulary.encode).
Encode = Callable[[sqlite3.Connection, list[int], list[list[str]]], list[bytes]]


def insert(conn: sqlite3.Connection, traces: Sequence[Trace], tokens: list[str], dim: int, known_dim: int | None,
           nsid: NsId, encode: Encode) -> dict[int, list[int]]:
    """Insert the traces (with their FTS5 documents and namespace counts;
    ``tokens`` space-separated, their ``tok_ids`` cells from ``encode``);
    returns the new keys by namespace id."""
    if known_dim is None:
        stored = conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
        if stored is not None and int(stored[0]) != dim:
            raise DimensionMismatchError(f"this store holds {stored[0]}-d vectors, not {dim}-d")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (str(dim),))
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'traces'").fetchone()
    first = (seq[0] if seq else 0) + 1
    rows, fts = [], []
    groups: dict[int, list[int]] = {}
    stats: dict[int, list[int]] = {}
    nss = [nsid(t.namespace) for t in traces]
    tok_ids = encode(conn, nss, [tok.split() for tok in tokens])
    for i, (t, tok, tid, ns) in enumerate(zip(traces, tokens, tok_ids, nss, strict=True)):
        key = first + i
        ntok = tok.count(" ") + 1 if tok else 0
        rows.append(
            (key, t.id, ns, t.text, t.speaker, t.episode, int(t.position), float(t.time),
             json.dumps(dict(t.metadata)), t.category, tok, ntok,
             np.asarray(t.content, np.float32).tobytes(), np.asarray(t.context, np.float32).tobytes(),
             int(t.version), t.supersedes, t.superseded_at, t.expires_at, tid)
        )
        fts.append((key, fts_doc(ns, tok)))
        groups.setdefault(ns, []).append(i)
        s = stats.setdefault(ns, [0, 0])
        s[0] += 1
        s[1] += ntok
    conn.executemany(
        "INSERT INTO traces (key, id, ns, text, speaker, episode, position, time, metadata, category,"
        " tokens, ntokens, content, context, version, supersedes, superseded_at, expires_at, tok_ids)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.executemany("INSERT INTO lex (rowid, terms) VALUES (?, ?)", fts)
    conn.executemany(
        "UPDATE namespaces SET n = n + ?, total_len = total_len + ? WHERE id = ?",
        [(n, ln, ns) for ns, (n, ln) in stats.items()],
    )
    return {ns: [first + i for i in idx] for ns, idx in groups.items()}


def remove(conn: sqlite3.Connection, db: Database, ids: list[str], nsid: int,
           removed_tokens: list[tuple[int, int, str]]) -> tuple[list[int], bool]:
    """Delete the traces of namespace ``nsid`` with these ids,
    their access rows and FTS5 documents; a namespace left empty goes with
    its state.  Returns (the deleted keys, whether the namespace went) and
    fills ``removed_tokens`` with ``(nsid, key, tokens)`` of the rows."""
    found: list[tuple] = []
    for part in chunks(ids):
        sql = f"SELECT key, tokens, ntokens FROM traces WHERE ns = ? AND id IN ({marks(len(part))})"
        found.extend(conn.execute(sql, [nsid, *part]).fetchall())
    if not found:
        return [], False
    keys = [r[0] for r in found]
    for part in chunks(keys):
        conn.execute(f"DELETE FROM traces WHERE key IN ({marks(len(part))})", part)
        conn.execute(f"DELETE FROM access WHERE key IN ({marks(len(part))})", part)
    for k, tok, ntok in found:
        if not isinstance(tok, str) or type(ntok) is not int:
            raise db.corrupt(f"trace row {k!r} has unreadable tokens")
    removed_tokens[:] = [(nsid, k, tok) for k, tok, _ in found]
    conn.executemany(
        "INSERT INTO lex (lex, rowid, terms) VALUES ('delete', ?, ?)",
        [(k, fts_doc(nsid, tok)) for k, tok, _ in found],
    )
    conn.execute("UPDATE namespaces SET n = n - ?, total_len = total_len - ? WHERE id = ?",
                 (len(found), sum(ntok for _, _, ntok in found), nsid))
    emptied = conn.execute("SELECT 1 FROM namespaces WHERE n <= 0 AND id = ?", (nsid,)).fetchone() is not None
    if emptied:  # an empty namespace disappears with its state, as in MemoryStore
        conn.execute("DELETE FROM namespaces WHERE id = ?", (nsid,))
        conn.execute("DELETE FROM vocab WHERE ns = ?", (nsid,))
        conn.execute("DELETE FROM meta WHERE key IN (?, ?)", tuple(digest_key(nsid, f) for f in FIELDS))
        state.drop(conn, nsid)
    return keys, emptied
