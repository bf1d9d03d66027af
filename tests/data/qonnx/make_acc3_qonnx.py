"""Make tests/data/qonnx/aster_ACC3NN_w8a8_po2_pt_mm.onnx: the real aster_ACC3NN controller
(tests/data/synth/aster_ACC3NN.json; source dlohar/Aster testcases/qnn/ACC3NN.scala, BSD-2-clause-
style license, see that file's `source` and `license_note`) quantized after training as
benchmarks/qonnx_accumulators.py does for its `w8a8_po2_pt_mm` configuration: 8-bit signed
input, 8-bit per-tensor weights, 8-bit unsigned activations, power-of-two scales, MatMul+Add.

Run: python tests/data/qonnx/make_acc3_qonnx.py   (needs onnx)
"""
import json
import os
import sys

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", ".."))
from benchmarks.qonnx_accumulators import build  # noqa: E402

NAME, CONFIG = "aster_ACC3NN", "w8a8_po2_pt_mm"


def main() -> None:
    d = json.load(open(os.path.join(HERE, "..", "synth", f"{NAME}.json")))
    layers = [(np.array(l["weights"], dtype=np.float64), np.array(l["bias"], dtype=np.float64), l["activation"])
              for l in d["layers"]]
    dom = np.array(d["input_domain"], dtype=np.float64)
    onnx.save(build(layers, dom, CONFIG, np.random.default_rng(0)), os.path.join(HERE, f"{NAME}_{CONFIG}.onnx"))


if __name__ == "__main__":
    main()
