"""Validates ONNX files with onnx.checker (full check: types and shapes
inferred through every node) and prints one line per file. Run by
Debian's /usr/bin/python3 with python3-onnx."""
import sys

import onnx

for path in sys.argv[1:]:
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    print(f"{path}: ir {model.ir_version} opsets {opsets}")
