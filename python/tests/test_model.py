# The denseshift module against the engine: the same logits as the C++ reference test, input read
# in place, runs in parallel from Python threads, errors as Python exceptions.
import os
import threading
import time

import numpy as np
import pytest

import denseshift


def close(a, b):
    # The C++ reference test's tolerance: 1e-4 relative, at least 1e-4 absolute.
    return np.all(np.abs(a - b) <= 1e-4 * np.maximum(1.0, np.abs(b)))


def test_logits_equal_the_engines_reference(model_path, reference):
    x, want = reference
    m = denseshift.Model(model_path, kernel="f32_expadd_scalar", threads=1)
    got = m.run(x)
    assert got.shape == want.shape and got.dtype == np.float32
    assert close(got, want), np.abs(got - want).max()
    # One image [C, H, W] gives that image's logits, [classes].
    one = m.run(x[3])
    assert one.shape == (want.shape[1],)
    assert close(one, want[3])


def test_every_kernel_that_can_run_the_model_gives_the_reference(model_path, reference):
    x, want = reference
    names = denseshift.Model(model_path).kernels()
    assert "f32_expadd_scalar" in names
    for k in names:
        if "f16" in k:  # FP16 activations are not bit-comparable (kernels.h)
            continue
        m = denseshift.Model(model_path, kernel=k, threads=2)
        assert m.kernel == k
        assert close(m.run(x), want), k


def test_metadata(model_path):
    m = denseshift.Model(model_path)
    assert m.input_shape == (1, 28, 28)
    assert len(m.classes) == 10 and all(isinstance(c, str) and c for c in m.classes)
    assert m.kernel in denseshift.kernels()
    assert len(m.mean) == 1 and len(m.std) == 1 and m.std[0] > 0
    assert "f32_expadd_scalar" in denseshift.kernels()
    assert "conv" in m.summary()


def test_predict_ranks_the_softmax_of_the_logits(model_path, reference):
    x, want = reference
    m = denseshift.Model(model_path, kernel="f32_expadd_scalar")
    classes, probs = m.predict(x, topk=3)
    assert classes.shape == (8, 3) and probs.shape == (8, 3)
    e = np.exp(want - want.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(classes[:, 0], want.argmax(axis=1))
    np.testing.assert_allclose(probs, np.take_along_axis(p, classes, axis=1), rtol=1e-4, atol=1e-6)
    assert np.all(np.diff(probs, axis=1) <= 0)
    c1, p1 = m.predict(x[5])  # one image, default topk 5
    assert c1.shape == (5,) and c1[0] == want[5].argmax() and abs(p1[0] - probs[5, 0]) < 1e-6


def test_contiguous_float32_input_is_not_copied(model_path, reference):
    x, want = reference
    m = denseshift.Model(model_path, kernel="f32_expadd_scalar", threads=1)
    assert x.flags.c_contiguous and x.dtype == np.float32
    m.run(x)
    assert denseshift._debug_last_input_address() == x.ctypes.data
    m.predict(x)
    assert denseshift._debug_last_input_address() == x.ctypes.data
    # Other layouts and types are converted (a copy elsewhere) and give the same logits.
    f64 = x.astype(np.float64)
    assert close(m.run(f64), want)
    assert denseshift._debug_last_input_address() != f64.ctypes.data
    wide = np.zeros((8, 1, 28, 56), np.float32)
    wide[..., ::2] = x
    strided = wide[..., ::2]
    assert not strided.flags.c_contiguous
    assert close(m.run(strided), want)
    assert denseshift._debug_last_input_address() != strided.ctypes.data


def test_two_python_threads_run_at_the_same_time(model_path):
    # Each thread runs a large batch on one engine thread; with the GIL held during a run the two
    # could never be inside the engine together.
    m = denseshift.Model(model_path, threads=1)
    x = np.random.default_rng(1).standard_normal((512, 1, 28, 28)).astype(np.float32)
    m.run(x)  # warm up buffers and the thread pool
    t0 = time.perf_counter()
    for _ in range(2):
        m.run(x)
    serial = time.perf_counter() - t0

    denseshift._debug_reset()
    start = threading.Barrier(2)
    results = [None, None]

    def work(i):
        start.wait()
        for _ in range(3):
            results[i] = m.run(x)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parallel = (time.perf_counter() - t0) * 2 / 3  # two runs' worth, as `serial`
    assert denseshift._debug_max_concurrent_runs() == 2
    np.testing.assert_array_equal(results[0], results[1])
    print(f"\ntwo runs of batch 512: one thread {serial * 1e3:.0f} ms, two threads {parallel * 1e3:.0f} ms "
          f"({os.cpu_count()} cores)")


def test_errors_become_exceptions_with_the_engines_message(model_path, tmp_path):
    with pytest.raises(denseshift.FormatError, match="nope.dsm"):
        denseshift.Model(str(tmp_path / "nope.dsm"))
    bad = tmp_path / "bad.dsm"
    data = bytearray(open(model_path, "rb").read())
    data[200] ^= 0x01
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad.dsm"):  # FormatError is a ValueError
        denseshift.Model(str(bad))
    with pytest.raises(ValueError, match="no_such_kernel"):
        denseshift.Model(model_path, kernel="no_such_kernel")
    with pytest.raises(ValueError, match="threads"):
        denseshift.Model(model_path, threads=-1)
    m = denseshift.Model(model_path)
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\].*not \[2, 3, 28, 28\]"):
        m.run(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match="batch"):
        m.run(np.zeros((0, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="topk"):
        m.predict(np.zeros((1, 28, 28), np.float32), topk=11)
    with pytest.raises(TypeError, match="float32 array.*not str"):
        m.run("not an array")
