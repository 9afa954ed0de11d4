"""Reliability (issue 8.2): a process killed mid-import loses nothing it confirmed.

A child process bulk-imports into a SQLite file with ``add_many`` and prints
the ids of every call that returned (flushing stdout) before the next one.
The parent SIGKILLs it in the middle of the import (three times, resuming the
import on the same file each time, with HNSW graphs being saved and recalled
from along the way), then reopens the file and checks:

* every printed id is present (a returned add is durable);
* no partial trace, and no partial batch: each batch is all there or not at
  all; every trace has its text, both vectors (finite, unit length, right
  dimension), its access log and its lexical index entry;
* the file passes SQLite's ``integrity_check``;
* recall and both vector indexes work, also for traces added after reopening.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter

import numpy as np
import pytest

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.lexical import tokenize
from memoryweave_core.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

DIM = 64
BATCH = 25
ANN_THRESHOLD = 150  # small, so the HNSW graph (and its files) take part too


CHILD = textwrap.dedent(
    """
    import sys
    from memoryweave_core import HashingEmbedder, MemoryWeave
    from memoryweave_core.storage.sqlite import SQLiteStore

    path, round_, batch_size, threshold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    store = SQLiteStore(path, ann_threshold=threshold)
    m = MemoryWeave(store=store, embedder=HashingEmbedder(%d))
    print("ready", flush=True)
    b = 0
    while True:
        tag = f"r{round_}b{b}"
        items = [
            {"text": f"document {tag} item {j} about topic{j %% 7} with words w{b * 31 + j}",
             "episode": f"{tag}", "metadata": {"batch": tag, "j": j}}
            for j in range(batch_size)
        ]
        ids = [t.id for t in m.add_many(items, namespace="bulk")]
        print(tag, " ".join(ids), flush=True)
        if b %% 3 == 2:
            m.recall(f"document {tag} topic1", k=5, namespace="bulk")  # loads and feeds the vector indexes
        if b %% 5 == 4:
            store.save_indexes()  # graph files on disk, then more rows after them
        b += 1
    """
    % DIM
)


def _run_and_kill(path: str, round_: int, kill_after_lines: int, extra_delay: float) -> dict[str, list[str]]:
    """Start an importer, read what it confirms, SIGKILL it mid-import; returns tag -> ids printed."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, str(round_), str(BATCH), str(ANN_THRESHOLD)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    confirmed: dict[str, list[str]] = {}
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        deadline = time.monotonic() + 60
        while len(confirmed) < kill_after_lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            tag, *ids = line.split()
            confirmed[tag] = ids
        assert len(confirmed) >= kill_after_lines, f"importer stopped early: {proc.stderr.read()}"
        time.sleep(extra_delay)  # land the kill somewhere inside the next add_many
        proc.send_signal(signal.SIGKILL)
        # ids printed before the signal landed count as returned adds too
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for line in rest.splitlines():
        parts = line.split()
        if len(parts) == BATCH + 1:  # a line cut by the kill was not fully printed: not a confirmation
            confirmed[parts[0]] = parts[1:]
    assert proc.returncode == -signal.SIGKILL
    return confirmed


def _check_store(path: str, confirmed: dict[str, list[str]]) -> None:
    store_cls = SQLiteStore
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = store_cls(path, ann_threshold=ANN_THRESHOLD)
    m = MemoryWeave(store=store, embedder=HashingEmbedder(DIM))
    try:
        traces = list(m.store.iter_traces("bulk"))
        ids = [t.id for t in traces]
        assert len(ids) == len(set(ids)) == m.count("bulk")
        # every add that returned before the kill is there
        printed = [i for batch in confirmed.values() for i in batch]
        missing = set(printed) - set(ids)
        assert not missing, f"{len(missing)} confirmed traces lost, e.g. {sorted(missing)[:3]}"
        # no partial batch: add_many is atomic
        per_batch = Counter(t.metadata["batch"] for t in traces)
        assert set(per_batch.values()) == {BATCH}, {b: n for b, n in per_batch.items() if n != BATCH}
        assert set(confirmed) <= set(per_batch)
        # no partial trace
        by_id = m.store.access_logs(ids, "bulk")
        assert len(by_id) == len(ids)
        logs = [by_id[t.id] for t in traces]
        for t, log in zip(traces, logs):
            assert t.text.startswith(f"document {t.metadata['batch']} item {t.metadata['j']} ")
            assert t.episode == t.metadata["batch"] and t.position == t.metadata["j"]
            for v in (t.content, t.context):
                assert v is not None and v.shape == (DIM,) and np.isfinite(v).all()
                assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-4
            assert log.count >= 1 and log.first == t.time
        # indexes: every trace is found by each vector index and by the lexical index
        for t in traces[:: max(len(traces) // 40, 1)]:
            for field in ("content", "context"):
                hits = [i for i, _ in m.store.nearest("bulk", field, getattr(t, field), 3)]
                assert t.id in hits, f"{field} index lost {t.id}"
            terms = tokenize(t.text)
            assert t.id in [i for i, _ in m.store.lexical("bulk", terms, 5)], "lexical index lost a trace"
            top = m.recall(t.text, k=1, namespace="bulk", record_access=False)[0]
            assert top.trace.id == t.id
        # and the store keeps working: add more, find them
        more = m.add_many([f"after the crash note {i} zebra{i}" for i in range(BATCH)], namespace="bulk")
        assert m.count("bulk") == len(ids) + BATCH
        for t in more[:5]:
            assert m.recall(t.text, k=1, namespace="bulk")[0].trace.id == t.id
            assert t.id in [i for i, _ in m.store.nearest("bulk", "content", t.content, 3)]
        m.forget([t.id for t in more], namespace="bulk")
        assert m.count("bulk") == len(ids)
    finally:
        m.close()


def test_sigkill_mid_bulk_import_keeps_every_returned_add(tmp_path):
    path = str(tmp_path / "crash.db")
    confirmed: dict[str, list[str]] = {}
    for round_, (lines, delay) in enumerate([(4, 0.0), (9, 0.013), (7, 0.031)]):
        got = _run_and_kill(path, round_, lines, delay)
        assert got, "the importer confirmed nothing"
        confirmed.update(got)
        _check_store(path, confirmed)  # reopen after every crash, then resume importing
    assert sum(map(len, confirmed.values())) >= 20 * BATCH


def test_sigkill_while_saving_indexes_then_reopen(tmp_path):
    """Kill as soon as the graph files are being written: a damaged graph is rebuilt, not trusted."""
    path = str(tmp_path / "crash-index.db")
    confirmed = _run_and_kill(path, 0, 10, 0.0)  # batch 9 returned -> save_indexes() is running now
    _check_store(path, confirmed)
