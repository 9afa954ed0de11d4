"""Recorders of HNSW graph file activity, for tests that check mechanisms by counting."""

from __future__ import annotations


def record_saves(monkeypatch) -> list[str]:
    """Every graph save (staged files), by path, in the order made."""
    from memoryweave_core.ann import hnsw

    calls: list[str] = []
    real = hnsw.HNSWIndex.stage

    def stage(self, path):
        calls.append(path)
        return real(self, path)

    monkeypatch.setattr(hnsw.HNSWIndex, "stage", stage)
    return calls


def record_loads(monkeypatch) -> list[str]:
    """Every graph load, by path; each must be trusted and read, not refused (then rebuilt)."""
    from memoryweave_core.ann import hnsw

    loads: list[str] = []
    real = hnsw.HNSWIndex.load.__func__  # type: ignore[attr-defined]

    def counting(cls, file, *args, **kwargs):
        graph = real(cls, file, *args, **kwargs)
        assert graph is not None  # trusted and read, not rebuilt
        loads.append(file)
        return graph

    monkeypatch.setattr(hnsw.HNSWIndex, "load", classmethod(counting))
    return loads
