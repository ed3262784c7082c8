# Shared fixtures: the committed reference model (tests/runtime/data) and the inputs its
# reference logits were computed on.
import os

import numpy as np
import pytest

DATA = os.environ.get("DS_TEST_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "tests", "runtime", "data"))
MODEL = os.path.join(DATA, "smallcnn_fmnist_ds3.dsm")
LOGITS = os.path.join(DATA, "smallcnn_fmnist_ds3.logits")
IMAGES = 8


def reference_inputs(n):
    """The inputs of tests/runtime/test_reference_model.cpp: the same LCG, in float32 arithmetic."""
    out = np.empty(n, np.float32)
    s = 12345
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        r = s >> 8
        out[i] = np.float32(-0.8102) if r % 5 == 0 else np.float32(r % 1000) / np.float32(300) - np.float32(0.81)
    return out


@pytest.fixture(scope="session")
def model_path():
    assert os.path.exists(MODEL), MODEL
    return MODEL


@pytest.fixture(scope="session")
def reference(model_path):
    """(inputs [8, 1, 28, 28], logits [8, 10]) as the C++ reference test has them."""
    x = reference_inputs(IMAGES * 28 * 28).reshape(IMAGES, 1, 28, 28)
    y = np.loadtxt(LOGITS, dtype=np.float32).reshape(IMAGES, -1)
    return x, y
