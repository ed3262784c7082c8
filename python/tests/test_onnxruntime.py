# ONNX Runtime runs the exported graph and gets the engine's logits (within 1e-4). ONNX Runtime's
# CPU build comes from npm (onnxruntime-node, which bundles libonnxruntime.so), driven by node
# through ort_run.js. Where npm cannot install it, the test is skipped and says why (ctest shows
# it as skipped).
import json
import os
import subprocess

import numpy as np
import pytest

import denseshift

HERE = os.path.dirname(os.path.abspath(__file__))
# Every op the engine has (tests/onnx_export/test_onnx_export.cpp describes and checks it).
ALL_OPS = os.path.join(HERE, "..", "..", "tests", "onnx_export", "data", "all_ops.dsm")


INSTALL = os.path.join(HERE, "..", "..", "scripts", "install_onnxruntime.sh")


def ort_package():
    """The onnxruntime-node folder, installed with npm into DS_ORT_DIR on first use
    (scripts/install_onnxruntime.sh, which bench_e2e's ONNX Runtime contender uses too)."""
    prefix = os.environ.get("DS_ORT_DIR") or os.path.join(HERE, "..", "..", "build", "onnxruntime-node")
    try:
        r = subprocess.run(["bash", INSTALL, prefix], capture_output=True, text=True, timeout=360)
    except subprocess.TimeoutExpired:
        pytest.skip("ONNX Runtime check skipped: npm install onnxruntime-node timed out (registry not reachable?)")
    if r.returncode != 0:
        pytest.skip("ONNX Runtime check skipped: " + (r.stderr.strip().splitlines() or ["no message"])[-1])
    return r.stdout.strip()


def ort_version(pkg):
    with open(os.path.join(pkg, "package.json")) as f:
        return json.load(f)["version"]


def ort_logits(pkg, onnx_file, x, tmp_path):
    inp, out = tmp_path / "x.f32", tmp_path / "y.f32"
    np.ascontiguousarray(x, np.float32).tofile(inp)
    cmd = ["node", os.path.join(HERE, "ort_run.js"), pkg, str(onnx_file), str(inp), *map(str, x.shape), str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, np.float32).reshape(x.shape[0], -1)


@pytest.mark.skipif(not hasattr(denseshift, "export_onnx"), reason="denseshift built without ONNX export")
def test_onnxruntime_gives_the_engines_logits(model_path, reference, tmp_path):
    pkg = ort_package()
    onnx_file = tmp_path / "m.onnx"
    denseshift.export_onnx(model_path, str(onnx_file))
    x, want = reference
    engine = denseshift.Model(model_path)
    # Batch 8 (the reference inputs) and batch 3 of other inputs: the batch dimension is dynamic.
    x3 = np.random.default_rng(7).standard_normal((3, 1, 28, 28)).astype(np.float32)
    for inputs, expected in ((x, want), (x3, engine.run(x3))):
        got = ort_logits(pkg, onnx_file, inputs, tmp_path)
        assert got.shape == expected.shape
        err = np.abs(got - expected).max()
        print(f"\nONNX Runtime {ort_version(pkg)} vs engine, batch {len(inputs)}: max |difference| {err:.2e}")
        assert np.all(np.abs(got - expected) <= 1e-4 * np.maximum(1.0, np.abs(expected))), err
        np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))


@pytest.mark.skipif(not hasattr(denseshift, "export_onnx"), reason="denseshift built without ONNX export")
def test_onnxruntime_runs_every_op_as_the_engine_does(tmp_path):
    # FP32, DenseShift 3/4/5-bit and shift-with-zero weights, groups, dilation, a residual conv,
    # add, shortcut_a (Slice + Pad), max and average pooling (padding counted), ReLU, two linears.
    pkg = ort_package()
    onnx_file = tmp_path / "all_ops.onnx"
    denseshift.export_onnx(ALL_OPS, str(onnx_file))
    engine = denseshift.Model(ALL_OPS, threads=1)  # mixed codes: the float panel kernel
    x = np.random.default_rng(3).standard_normal((5, *engine.input_shape)).astype(np.float32)
    want = engine.run(x)
    assert np.abs(want).max() > 0.1  # a graph that computes something, not zeros
    got = ort_logits(pkg, onnx_file, x, tmp_path)
    err = np.abs(got - want).max()
    print(f"\nONNX Runtime vs engine, every op, batch 5: max |difference| {err:.2e} (logits up to {np.abs(want).max():.2f})")
    assert np.all(np.abs(got - want) <= 1e-4 * np.maximum(1.0, np.abs(want))), err
