# `denseshift export MODEL --format onnx -o m.onnx` (the trainer's CLI; ctest passes its path in
# DS_CLI): the file it writes is the one denseshift.export_onnx writes, and passes the full check.
import os
import subprocess

import pytest

import denseshift

CLI = os.environ.get("DS_CLI")
if not CLI or not hasattr(denseshift, "export_onnx"):
    pytest.skip("needs the denseshift CLI (DS_CLI) and ONNX export", allow_module_level=True)
onnx = pytest.importorskip("onnx", reason="python3-onnx not installed (scripts/setup.sh)")


def export(*args):
    return subprocess.run([CLI, "export", *args], capture_output=True, text=True, timeout=300)


def test_export_format_onnx_from_a_dsm_model(model_path, tmp_path):
    out = tmp_path / "m.onnx"
    r = export(model_path, "--format", "onnx", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "opset 13" in r.stdout and str(out) in r.stdout
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    denseshift.export_onnx(model_path, str(tmp_path / "py.onnx"))
    assert out.read_bytes() == (tmp_path / "py.onnx").read_bytes()


def test_export_refuses_what_does_not_apply(model_path, tmp_path):
    r = export(model_path, "--format", "onnx", "--data", str(tmp_path), "-o", str(tmp_path / "m.onnx"))
    assert r.returncode != 0 and "--data applies to a checkpoint" in r.stderr
    r = export(model_path, "--format", "tflite", "-o", str(tmp_path / "m.x"))
    assert r.returncode != 0 and "tflite" in r.stderr
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "m.x").exists()
