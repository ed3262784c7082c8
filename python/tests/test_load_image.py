# denseshift.load_image / Model.load_image: a PNG file as the model's input, with the runtime's
# preprocessing (runtime/preprocess.h), and decoder errors as exceptions naming the file.
import struct
import zlib

import numpy as np
import pytest

import denseshift

if not hasattr(denseshift.Model, "load_image"):
    pytest.skip("denseshift built without the image decoders (DENSESHIFT_BUILD_DATA=OFF)", allow_module_level=True)


def write_png(path, grey):
    """An 8-bit greyscale PNG of the 2-D uint8 array `grey` (no image library needed)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    h, w = grey.shape
    rows = b"".join(b"\x00" + grey[y].tobytes() for y in range(h))  # filter type 0 per row
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    path.write_bytes(png + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_a_picture_of_the_models_size_is_only_normalized(model_path, tmp_path):
    m = denseshift.Model(model_path)
    px = (np.arange(28 * 28) * 7 % 256).astype(np.uint8).reshape(28, 28)
    write_png(tmp_path / "a.png", px)
    x = m.load_image(str(tmp_path / "a.png"))
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    want = (px / 255.0 - m.mean[0]) / m.std[0]
    np.testing.assert_allclose(x[0], want, atol=2e-5)
    np.testing.assert_array_equal(denseshift.load_image(str(tmp_path / "a.png"), m), x)


def test_a_larger_picture_is_resized_and_runs(model_path, tmp_path):
    m = denseshift.Model(model_path)
    write_png(tmp_path / "big.png", np.full((90, 60), 200, np.uint8))
    x = m.load_image(str(tmp_path / "big.png"))
    assert x.shape == (1, 28, 28)
    np.testing.assert_allclose(x, (200 / 255.0 - m.mean[0]) / m.std[0], atol=2e-5)  # a flat picture stays flat
    classes, probs = m.predict(x, topk=1)
    assert 0 <= classes[0] < 10 and 0 < probs[0] <= 1


def test_a_file_that_is_not_an_image_is_an_error_naming_it(model_path, tmp_path):
    m = denseshift.Model(model_path)
    (tmp_path / "notes.png").write_bytes(b"just text")
    with pytest.raises(denseshift.DataError, match="notes.png"):
        m.load_image(str(tmp_path / "notes.png"))
    with pytest.raises(ValueError, match="missing.jpg"):  # DataError is a ValueError
        m.load_image(str(tmp_path / "missing.jpg"))
