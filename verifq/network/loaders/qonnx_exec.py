"""QONNX's own execution of a model (qonnx.core.onnx_exec, onnxruntime for the standard
nodes), the reference verifq's integer simulation is checked against and the way an overflow
witness is confirmed. Needs the optional `qonnx` extra (pip install verifq[qonnx])."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import UserError


def qonnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import qonnx  # noqa: F401
    except ImportError:
        return False
    return True


def execute_qonnx(path: Path | str, x: np.ndarray, full: bool = False):
    """Run the QONNX model on the rows of `x` (fed as float32, batch size changed to len(x)).
    The output array, or with `full` the whole execution context (every tensor by name)."""
    try:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.transformation.change_batchsize import ChangeBatchSize
        from qonnx.transformation.infer_shapes import InferShapes
    except ImportError:
        raise UserError("executing a QONNX model needs the qonnx package",
                        hint="pip install 'verifq[qonnx]' (qonnx and onnxruntime)") from None
    x = np.asarray(x, dtype=np.float32)
    model = ModelWrapper(str(path))
    model = model.transform(ChangeBatchSize(x.shape[0])).transform(InferShapes())
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    ctx = execute_onnx(model, {iname: x}, return_full_exec_context=full)
    return ctx if full else ctx[oname]
