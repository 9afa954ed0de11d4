"""Draw every committed picture of the docs: benchmark charts and the concept figures.

    python benchmarks/charts.py            # writes docs/images/*.svg
    python benchmarks/charts.py --out DIR  # somewhere else (the tests do)

The benchmark charts read ``benchmarks/results/*.json`` only, so they show the figures
the README's tables state; rerun this after a benchmark. The concept figures run the
engine on small made-up data with the hashing embedder and a hand-moved clock, so they
need no model and come out the same on every machine. The SVGs are deterministic
(fixed hash salt, no date, text kept as text): regenerating unchanged data changes no byte.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from memoryweave_core import ART2A, HashingEmbedder, MemoryWeave  # noqa: E402
from memoryweave_core.demo import NOW, SESSIONS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DAY = 86_400.0

SYSTEMS = {"memoryweave": "MemoryWeave", "bm25": "BM25", "dense": "dense", "rrf": "RRF(dense, BM25)"}
BACKENDS = {
    "memory": "MemoryWeave, in memory",
    "sqlite": "MemoryWeave, SQLite",
    "postgres": "MemoryWeave, PostgreSQL",
    "numpy": "numpy brute force (floor)",
    "langchain": "LangChain InMemoryVectorStore",
    "llamaindex": "LlamaIndex SimpleVectorStore",
}
COLOURS = dict(zip(list(SYSTEMS) + list(BACKENDS), plt.get_cmap("tab10").colors))

plt.rcParams.update({"svg.hashsalt": "memoryweave", "svg.fonttype": "none", "font.size": 10})


def save(fig: Any, path: Path) -> None:
    """An SVG without the date or the matplotlib version, so unchanged data gives unchanged bytes."""
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def grouped_bars(ax: Any, systems: dict[str, dict[str, float]], metrics: list[str], labels: list[str]) -> None:
    """One group per metric, one bar per system, each bar labelled with its value."""
    width = 0.8 / len(systems)
    for i, (name, values) in enumerate(systems.items()):
        xs = np.arange(len(metrics)) + (i - (len(systems) - 1) / 2) * width
        bars = ax.bar(xs, [values[m] for m in metrics], width, label=SYSTEMS[name], color=COLOURS[name])
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(np.arange(len(metrics)), labels)
    ax.set_ylim(0, 1.08)
    ax.grid(axis="y", alpha=0.3)


def recall_chart(out: Path) -> None:
    """Recall at 5 and 10 per system: LoCoMo's evidence turns, LongMemEval's at turn level."""
    locomo, lme = load("locomo.json")["systems"], load("longmemeval.json")["systems"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    grouped_bars(left, {s: locomo[s] for s in SYSTEMS}, ["recall@5", "recall@10"], ["R@5", "R@10"])
    left.set_title("LoCoMo: evidence turns in the top k")
    left.set_ylabel("recall")
    grouped_bars(right, {s: lme[s] for s in SYSTEMS}, ["turn_recall@5", "turn_recall@10"], ["turn R@5", "turn R@10"])
    right.set_title("LongMemEval sample: evidence turns in the top k")
    left.legend(loc="upper left", fontsize=8)
    save(fig, out / "recall.svg")


def budget_chart(out: Path) -> None:
    """What reaches a prompt: evidence inside the first N words of the returned text."""
    budgets = ["budget_recall@256", "budget_recall@512", "budget_recall@1024"]
    labels = ["256 words", "512 words", "1,024 words"]
    locomo, lme = load("locomo.json")["systems"], load("longmemeval.json")["systems"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    grouped_bars(left, {s: locomo[s] for s in SYSTEMS}, budgets, labels)
    left.set_title("LoCoMo: evidence within a prompt budget")
    left.set_ylabel("budget recall")
    grouped_bars(right, {s: lme[s] for s in SYSTEMS}, budgets, labels)
    right.set_title("LongMemEval sample (every turn indexed)")
    left.legend(loc="upper left", fontsize=8)
    save(fig, out / "budget_recall.svg")


def scale_chart(out: Path) -> None:
    """Recall latency (p50, p95 dotted) against the number of traces, both axes logarithmic."""
    rows = load("bench_scale.json")["results"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for backend, label in BACKENDS.items():
        points = sorted((r["n"], r["p50_ms"], r["p95_ms"]) for r in rows if r["backend"] == backend)
        if not points:
            continue
        n, p50, p95 = (np.array(col) for col in zip(*points))
        ax.plot(n, p50, marker="o", label=label, color=COLOURS[backend])
        ax.plot(n, p95, linestyle=":", color=COLOURS[backend])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("traces in the store")
    ax.set_ylabel("recall latency, ms (p50; p95 dotted)")
    ax.set_title("Recall latency against store size (k=10, query embedding excluded)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, out / "scale_latency.svg")


def relevance_chart(out: Path) -> None:
    """The held-out abstention curve: what a relevance threshold keeps and drops."""
    held_out = load("relevance.json")["held_out"]
    curve = held_out["abstention"]["curve"]
    thresholds = [c["threshold"] for c in curve]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for key, label in [("evidence_kept", "evidence kept"), ("nonevidence_dropped", "non-evidence dropped"),
                       ("foreign_empty", "foreign questions left empty")]:
        ax.plot(thresholds, [c[key] for c in curve], marker=".", label=label)
    shipped = held_out["abstention"]["threshold"]
    ax.axvline(shipped, color="gray", linestyle="--", label=f"shipped threshold {shipped:g}")
    ax.set_xlabel("min_relevance")
    ax.set_ylabel("share")
    floor = held_out["abstention"].get("answerable_floor", 0.0)
    ax.set_title(f"Relevance threshold on LoCoMo's top 10 (answerable gate at {floor:g}), held-out folds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, out / "relevance.svg")


def activation_figure(out: Path) -> None:
    """One trace recalled at irregular times against one never recalled: ACT-R activation over 60 days."""
    now = [0.0]
    memory = MemoryWeave(embedder=HashingEmbedder(), clock=lambda: now[0])
    used = memory.add("My cat Luna sleeps on the radiator all day.", time=0.0).id
    unused = memory.add("The plumber's number is 0161 496 0000.", time=0.0).id
    recalls = [1.0, 1.5, 4.0, 9.0, 10.0, 24.0, 41.0]
    grid = np.linspace(0.05, 60, 600)
    curves: dict[str, list[float]] = {used: [], unused: []}
    pending = list(recalls)
    for day in grid:
        while pending and pending[0] <= day:
            now[0] = pending.pop(0) * DAY
            hit = memory.recall("where does my cat Luna sleep?", k=1)[0]
            assert hit.trace.id == used
        for tid, values in curves.items():
            values.append(memory.activation(tid, at=day * DAY))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(grid, curves[used], label="recalled at the dashed times", color="tab:orange")
    ax.plot(grid, curves[unused], label="never recalled", color="tab:gray")
    for day in recalls:
        ax.axvline(day, color="tab:orange", alpha=0.3, linestyle="--")
    ax.set_xlabel("days since both were remembered")
    ax.set_ylabel("base-level activation B")
    ax.set_title("Each recall raises activation; unused memories decay as a power law")
    ax.legend(fontsize=8)
    save(fig, out / "activation.svg")


ART_TOPICS = {
    "pets": ["my cat Luna sleeps on the radiator", "the cat Luna chases the dog", "our dog barks at the cat",
             "the vet says the dog needs a diet", "Luna the cat hates the vet", "walking the dog in the park"],
    "running": ["training for the Porto half marathon", "my knee hurts after the marathon training",
                "a long run before the half marathon", "new running shoes for the marathon",
                "the knee physio says rest from running", "interval running on the track"],
    "cooking": ["baking sourdough bread on Sunday", "the sourdough starter needs flour", "a tomato pasta recipe",
                "pasta with tomato and basil", "bread flour for the sourdough", "cooking pasta for the kids"],
    "work": ["the quarterly report is due Friday", "a meeting with my manager about the report",
             "my manager wants the slides", "slides for the quarterly meeting", "the report needs new numbers",
             "a deadline for the slides on Friday"],
}


ART_VIGILANCE = 0.02


def art_figure(out: Path) -> None:
    """A 2-D projection (PCA by SVD) of memories' vectors, coloured by the ART category each joined."""
    texts = [t for group in ART_TOPICS.values() for t in group]
    topic_of = [topic for topic, group in ART_TOPICS.items() for _ in group]
    vectors = HashingEmbedder().embed(texts)
    # hashing vectors of one topic share only a few words, hence the low vigilance
    art = ART2A(vigilance=ART_VIGILANCE).partial_fit(vectors)
    centred = vectors - vectors.mean(axis=0)
    xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    markers = dict(zip(ART_TOPICS, "osD^"))
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(7, 5))
    for (x, y), label, topic in zip(xy, art.labels_, topic_of):
        ax.scatter(x, y, color=cmap(int(label) % cmap.N), marker=markers[topic], s=60)
    for topic, marker in markers.items():
        ax.scatter([], [], color="gray", marker=marker, label=f"written about {topic}")
    ax.set_title(f"{art.n_categories_} ART categories (colour) of {len(texts)} memories, vigilance {ART_VIGILANCE:g}")
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    ax.legend(fontsize=8)
    save(fig, out / "art_map.svg")


def explanation_figure(out: Path) -> None:
    """One recall's top five, each bar split into what every pathway added to (or took from) its score."""
    memory = MemoryWeave(embedder=HashingEmbedder(), clock=lambda: NOW.timestamp())
    for episode, start, turns in SESSIONS:
        memory.add_conversation(turns, episode=episode, time=start)
    question = "How often do I go climbing?"
    hits = memory.recall(question, k=5, explain=True, record_access=False)
    pathways = [p for p in dict.fromkeys(f for h in hits for f in h.features) if any(h.features[p] for h in hits)]
    fig, ax = plt.subplots(figsize=(10, 4))
    ys = np.arange(len(hits))[::-1]
    right, left = np.zeros(len(hits)), np.zeros(len(hits))
    cmap = plt.get_cmap("tab20")
    for i, pathway in enumerate(pathways):
        values = np.array([h.features.get(pathway, 0.0) for h in hits])
        starts = np.where(values >= 0, right, left)
        ax.barh(ys, values, left=starts, color=cmap(i % cmap.N), label=pathway)
        right += values.clip(min=0)
        left += values.clip(max=0)
    ax.scatter([h.score for h in hits], ys, color="black", marker="|", s=300, zorder=3, label="score")
    ax.set_yticks(ys, [shorten(h.text) for h in hits])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution to the score")
    ax.set_title(f"recall({question!r}, k=5, explain=True)")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    save(fig, out / "explanation.svg")


def trace_figure(out: Path) -> None:
    """An episode as a row of turns: a trace's content vector embeds its turn, its context vector turns i-2..i."""
    turns = [("Ana", "Do you still go bouldering?"), ("Ben", "Not since my knee..."),
             ("Ana", "And the climbing gym?"), ("Ben", "Yes, every Sunday with Ines."),
             ("Ana", "Say hi to her!")]
    fig, ax = plt.subplots(figsize=(10, 2.8))
    for i, (speaker, text) in enumerate(turns):
        ax.add_patch(plt.Rectangle((i * 2, 0), 1.8, 1, facecolor="tab:orange" if i == 3 else "white",
                                   edgecolor="black", alpha=0.8))
        ax.text(i * 2 + 0.9, 0.62, f"{speaker}:", ha="center", fontsize=9, weight="bold")
        ax.text(i * 2 + 0.9, 0.35, text, ha="center", fontsize=7, wrap=True)
        ax.text(i * 2 + 0.9, -0.25, f"position {i}", ha="center", fontsize=8)
    ax.annotate("", xy=(1.95, 1.3), xytext=(7.85, 1.3), arrowprops={"arrowstyle": "<->", "color": "tab:blue"})
    ax.text(4.9, 1.42, "context vector of turn 3: turns 1..3", ha="center", color="tab:blue")
    ax.annotate("", xy=(6, 1.1), xytext=(7.8, 1.1), arrowprops={"arrowstyle": "<->", "color": "tab:orange"})
    ax.text(9.2, 1.05, "content vector: the turn itself", color="tab:orange", fontsize=8)
    ax.text(-0.1, -0.6, "episode 'climbing', 2024-03-03: speaker, episode, position and time are the trace's "
            "signature; traces are never rewritten", fontsize=8)
    ax.set_xlim(-0.2, 12.5)
    ax.set_ylim(-0.8, 1.7)
    ax.axis("off")
    save(fig, out / "trace.svg")


def shorten(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


FIGURES: list[Callable[[Path], None]] = [
    recall_chart, budget_chart, scale_chart, relevance_chart,
    activation_figure, art_figure, explanation_figure, trace_figure,
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder for the SVGs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for figure in FIGURES:
        figure(args.out)
        print(f"{figure.__name__}: {args.out}")


if __name__ == "__main__":
    main()
