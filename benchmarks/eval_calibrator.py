"""Probe: ``memoryweave eval`` under another relevance calibrator (not a shipped setting).

    HF_HUB_OFFLINE=1 python benchmarks/eval_calibrator.py --calibrator /tmp/relevance_onepass.json \\
        locomo --data ../shared/data/locomo10.json --context-mode onepass --no-ablations \\
        --systems memoryweave --out /tmp/locomo_onepass_recal.json

Every argument but ``--calibrator`` goes to ``memoryweave eval``.  The
calibrator (``"calibrator"`` of a ``tune.py --relevance --out`` file) takes
the place of ``relevance.DEFAULT_CALIBRATOR`` for the run: it orders nothing
(recall ranks by the fused score), but the prompt packing reads relevance per
word, so the budget figures move with it.  The shipped calibrator was fitted
on the model context's features; this is how a refit for another context
mode (``tune.py --relevance --context-mode onepass``) is scored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import memoryweave_core.retrieval as retrieval  # noqa: E402
from memoryweave_core.eval.__main__ import main  # noqa: E402
from memoryweave_core.relevance import Calibrator  # noqa: E402


def use_calibrator(path: str) -> None:
    """Recall in this process reads relevance from ``path``'s calibrator."""
    fitted = json.loads(Path(path).read_text())["calibrator"]
    retrieval.DEFAULT_CALIBRATOR = Calibrator(**{k: tuple(v) if isinstance(v, list) else v for k, v in fitted.items()})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calibrator", required=True, help="a tune.py --relevance --out file")
    args, rest = p.parse_known_args()
    use_calibrator(args.calibrator)
    sys.exit(main(rest))
