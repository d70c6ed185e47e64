"""The packaged app finds its bundled model and graph offline, with an empty U2NET_HOME.

A fake bundle (``sys.frozen`` and ``sys._MEIPASS`` pointing at a temporary folder laid out as
fibuca.spec lays out the real one) runs the same code the frozen app runs.
"""

from __future__ import annotations

import hashlib
import shutil
import sys

import pytest
from PIL import Image

from fibuca_desktop.core import resources
from fibuca_desktop.core.errors import ModelUnavailable
from fibuca_desktop.core.imaging.engine import EngineProvider
from fibuca_desktop.core.imaging.models import MODELS, ModelStore
from fibuca_desktop.core.imaging.static_resize import (
    graph_filename,
    prepared_graph,
    rewrite_u2net_resizes,
)
from tests.conftest import PHOTOS

MD5 = MODELS["u2netp"].md5
CLOSED_PORT_URL = "http://127.0.0.1:9/models/"


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    """An empty model home and cache, and a bundle folder; returns the bundle's model folder."""
    root = tmp_path / "bundle"
    models = root / "resources" / "models"
    models.mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(root), raising=False)
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "empty-u2net"))
    monkeypatch.setenv("FIBUCA_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "empty-u2net").mkdir()
    return models


def _bundle_graph(models, u2netp_path):
    graph = models / graph_filename("u2netp", MD5)
    data = rewrite_u2net_resizes(u2netp_path)
    graph.write_bytes(data)
    graph.with_suffix(".md5").write_text(hashlib.md5(data).hexdigest())
    return graph


def test_a_checkout_has_no_bundle_but_has_the_sample():
    assert not resources.is_frozen()
    assert resources.bundled_models_dir() is None
    assert resources.sample_photo().is_file()
    assert resources.sample_expected_mask().is_file()


def test_store_uses_the_bundled_model_when_the_home_is_empty(bundle, u2netp_path):
    shutil.copy(u2netp_path, bundle / "u2netp.onnx")
    store = ModelStore(base_url=CLOSED_PORT_URL)
    assert store.path("u2netp") == bundle / "u2netp.onnx"
    assert store.fetch("u2netp") == bundle / "u2netp.onnx"  # nothing downloaded, nothing copied
    assert list(store.home.iterdir()) == []


def test_a_damaged_bundled_model_is_refused(bundle, u2netp_path):
    (bundle / "u2netp.onnx").write_bytes(u2netp_path.read_bytes()[:-10])
    with pytest.raises(ModelUnavailable, match="damaged or incomplete"):
        ModelStore().path("u2netp")


def test_a_model_in_the_home_still_comes_first(bundle, u2netp_path):
    shutil.copy(u2netp_path, bundle / "u2netp.onnx")
    home = ModelStore().home
    shutil.copy(u2netp_path, home / "u2netp.onnx")
    assert ModelStore().path("u2netp") == home / "u2netp.onnx"


def test_the_bundled_graph_needs_neither_onnx_nor_a_cache(bundle, u2netp_path, monkeypatch):
    shutil.copy(u2netp_path, bundle / "u2netp.onnx")
    graph = _bundle_graph(bundle, u2netp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)  # as in the bundle: importing onnx fails
    assert prepared_graph(bundle / "u2netp.onnx", MD5) == graph
    engine = EngineProvider(ModelStore(), threads=2).get("u2netp")
    with Image.open(PHOTOS / "car-1.jpg") as photo:
        mask = engine.predict(photo.convert("RGB"))
    assert mask.size == photo.size and mask.getextrema() == (0, 255)
    assert not (bundle.parents[2] / "cache").exists()  # nothing rewritten, nothing cached


def test_a_bundled_graph_that_fails_its_md5_is_not_used(bundle, u2netp_path):
    shutil.copy(u2netp_path, bundle / "u2netp.onnx")
    graph = _bundle_graph(bundle, u2netp_path)
    graph.write_bytes(graph.read_bytes()[:-100])
    made = prepared_graph(bundle / "u2netp.onnx", MD5)
    assert made != graph and made.parent.parent.name == "cache"  # rewritten into the cache
