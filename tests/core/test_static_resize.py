"""The constant-scale rewrite of u2netp changes the layout onnxruntime uses, never the numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from fibuca_desktop.core.imaging.engine import OnnxMaskEngine
from fibuca_desktop.core.imaging.models import MODELS, ModelStore
from fibuca_desktop.core.imaging.static_resize import prepared_graph, rewrite_u2net_resizes
from tests.conftest import PHOTOS


def optimised_ops(model, tmp_path) -> Counter:
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return session, Counter(
        n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node
    )


@pytest.fixture(scope="module")
def rewritten(u2netp_path) -> bytes:
    graph = rewrite_u2net_resizes(u2netp_path)
    assert graph is not None
    return graph


def test_rewrite_gives_the_same_outputs(u2netp_path, rewritten):
    original = ort.InferenceSession(str(u2netp_path), providers=["CPUExecutionProvider"])
    fast = ort.InferenceSession(rewritten, providers=["CPUExecutionProvider"])
    engine = OnnxMaskEngine(MODELS["u2netp"], ModelStore(), threads=1)
    with Image.open(PHOTOS / "car-1.jpg") as photo:
        real = engine.model_input(photo)
    noise = np.random.default_rng(7).standard_normal((1, 3, 320, 320)).astype(np.float32)
    for tensor in (real, noise):
        expected = original.run(None, {"input.1": tensor})
        actual = fast.run(None, {"input.1": tensor})
        assert len(actual) == len(expected) == 7
        for a, b in zip(actual, expected, strict=True):
            assert np.abs(a - b).max() < 1e-4  # float reordering noise: 0.03 of an 8-bit level


def test_rewrite_lets_nchwc_cover_every_resize(u2netp_path, rewritten, tmp_path):
    _, before = optimised_ops(str(u2netp_path), tmp_path)
    _, after = optimised_ops(rewritten, tmp_path)
    if before["Resize"] == 0 and before["Upsample"] == 0:
        pytest.skip("this CPU has no NCHWc kernels")
    assert before["Resize"] == 38  # published graph: dynamic sizes, NCHW Resize
    assert after["Resize"] == 0 and after["Upsample"] == 38
    reorders = ("ReorderInput", "ReorderOutput")
    assert sum(after[op] for op in reorders) < sum(before[op] for op in reorders) / 4


def test_unexpected_graph_is_left_alone(tmp_path):
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])],
        "tiny",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 64, 64])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 64, 64])],
    )
    path = tmp_path / "tiny.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    assert rewrite_u2net_resizes(path) is None


def test_prepared_graph_is_cached_and_verified(u2netp_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FIBUCA_CACHE_DIR", str(tmp_path / "cache"))
    md5 = MODELS["u2netp"].md5
    made = prepared_graph(u2netp_path, md5)
    assert made.parent == tmp_path / "cache" / "models" and made != u2netp_path
    assert made.read_bytes() == rewrite_u2net_resizes(u2netp_path)
    stamp_time = made.stat().st_mtime_ns
    assert prepared_graph(u2netp_path, md5) == made and made.stat().st_mtime_ns == stamp_time
    made.write_bytes(made.read_bytes()[:-100])  # damaged in the cache
    assert prepared_graph(u2netp_path, md5) == made
    assert made.read_bytes() == rewrite_u2net_resizes(u2netp_path)  # rebuilt, not trusted


def test_a_warm_cache_needs_no_onnx(u2netp_path, tmp_path):
    env = {**os.environ, "FIBUCA_CACHE_DIR": str(tmp_path / "cache")}
    code = (
        "import sys; from pathlib import Path;"
        "from fibuca_desktop.core.imaging.static_resize import prepared_graph;"
        f"p = prepared_graph(Path({str(u2netp_path)!r}), {MODELS['u2netp'].md5!r});"
        "print(p, 'onnx' in sys.modules)"
    )
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert cold.stdout.split()[1] == "True" and warm.stdout.split() == [
        cold.stdout.split()[0],
        "False",
    ]


def test_unwritable_cache_falls_back_to_the_published_model(u2netp_path, tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    monkeypatch.setenv("FIBUCA_CACHE_DIR", str(tmp_path / "cache"))
    assert prepared_graph(u2netp_path, MODELS["u2netp"].md5) == u2netp_path
