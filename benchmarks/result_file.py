"""How benchmark scripts write their JSON: stamped with the commit and the
command that produced it, so a figure can be traced back and rerun."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent


def commit() -> str:
    """The short hash of the checkout's HEAD ("" outside a git checkout)."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def command(script: str, argv: Sequence[str] | None) -> str:
    """The command line that reruns ``benchmarks/<script>`` with these arguments."""
    return f"python benchmarks/{script} " + " ".join(argv if argv is not None else sys.argv[1:])


def machine(**measured: Any) -> dict[str, Any]:
    """The CPU count, then ``measured`` (load averages taken by the caller), then the BLAS threads and Python."""
    return {"cpus": os.cpu_count(), **measured, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "python": platform.python_version()}


def write(path: str | Path, result: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2))
