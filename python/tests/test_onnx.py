# denseshift.export_onnx: the graph passes ONNX's full check and carries what a user of the
# model needs (classes, mean/std, a dynamic batch).
import json

import pytest

import denseshift

onnx = pytest.importorskip("onnx", reason="python3-onnx not installed (scripts/setup.sh)")
if not hasattr(denseshift, "export_onnx"):
    pytest.skip("denseshift built without ONNX export (libonnx-dev not found)", allow_module_level=True)


@pytest.fixture(scope="module")
def exported(model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "m.onnx"
    report = denseshift.export_onnx(model_path, str(out))
    return out, report


def test_passes_the_full_check(exported):
    out, report = exported
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    assert report["bytes"] == out.stat().st_size and report["nodes"] == len(m.graph.node)
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 13)]
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("Conv") == 5 and ops[-2:] == ["Flatten", "Gemm"]
    assert {"Relu", "MaxPool", "GlobalAveragePool"} <= set(ops)


def test_batch_is_dynamic_and_shapes_are_the_models(exported, model_path):
    m = onnx.load(str(exported[0]))
    (inp,), (out,) = m.graph.input, m.graph.output
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    assert dims(inp) == ["batch", 1, 28, 28]
    assert dims(out) == ["batch", 10]


def test_metadata_holds_classes_and_normalization(exported, model_path):
    props = {p.key: p.value for p in onnx.load(str(exported[0])).metadata_props}
    model = denseshift.Model(model_path)
    assert json.loads(props["class_names"]) == model.classes
    assert json.loads(props["mean"]) == pytest.approx(model.mean)
    assert json.loads(props["std"]) == pytest.approx(model.std)
    assert json.loads(props["input_shape"]) == list(model.input_shape)
    assert props["method"] == "denseshift:3"


def test_a_bad_model_file_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "bad.dsm"
    bad.write_bytes(b"DSM1 not a model")
    with pytest.raises(denseshift.FormatError, match="bad.dsm"):
        denseshift.export_onnx(str(bad), str(tmp_path / "x.onnx"))
    assert not (tmp_path / "x.onnx").exists()
