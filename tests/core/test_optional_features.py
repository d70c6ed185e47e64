"""Without rembg (as in the packaged app) its features fail with a message, never a crash."""

from __future__ import annotations

import json
import sys

import pytest

from fibuca_desktop.__main__ import main
from fibuca_desktop.core.errors import ModelUnavailable
from fibuca_desktop.core.imaging import optional_features
from fibuca_desktop.core.imaging.engine import EngineProvider
from tests.conftest import PHOTOS


@pytest.fixture
def without_rembg(monkeypatch):
    """As in the bundle: the rembg package cannot be found or imported."""
    monkeypatch.setattr(optional_features.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setitem(sys.modules, "rembg", None)


def test_rembg_is_found_in_the_test_environment():
    assert optional_features.rembg_available()  # the test extras install it


def test_features_without_rembg_are_named(without_rembg):
    assert not optional_features.rembg_available()
    features = " ".join(optional_features.rembg_features())
    assert "isnet-anime" in features and "u2net_cloth_seg" in features
    assert "alpha matting" in features and "u2netp" not in features


def test_the_packaged_app_says_what_is_missing_and_what_to_do(without_rembg, monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(ModelUnavailable, match="not available in the packaged app") as caught:
        optional_features.require_rembg("Alpha matting")
    assert "u2netp" in str(caught.value) and "fibuca-desktop[rembg]" in str(caught.value)


def test_a_rembg_model_fails_with_the_message(without_rembg, tmp_path, monkeypatch, u2netp_path):
    # The model file is present (a copy named like isnet-anime would fail its md5), so the
    # store is made to answer and the missing package is what stops the engine.
    provider = EngineProvider(threads=1)
    monkeypatch.setattr(provider.store, "path", lambda name: u2netp_path)
    with pytest.raises(ModelUnavailable, match="optional rembg package"):
        provider.get("isnet-anime").predict(None)


def test_process_cli_refuses_alpha_matting_once_and_clearly(without_rembg, tmp_path, capsys):
    status = main(["process", str(PHOTOS / "car-1.jpg"), "-o", str(tmp_path), "--alpha-matting"])
    assert status == 1
    assert "Alpha matting needs the optional rembg package" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_rembg_model_is_refused_before_any_download(without_rembg, tmp_path, capsys):
    photo, out = str(PHOTOS / "car-1.jpg"), str(tmp_path / "out")
    status = main(["process", photo, "-o", out, "--model", "isnet-anime"])
    err = capsys.readouterr().err
    assert status == 1 and "Model isnet-anime needs the optional rembg package" in err
    assert "models fetch" not in err  # not sent to download 176 MB it cannot use


def test_models_list_says_which_models_need_rembg(without_rembg, capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["models"]}
    assert rows["u2netp"]["usable"] and not rows["isnet-anime"]["usable"]
    assert main(["models", "list"]) == 0
    assert "rembg is not available here" in capsys.readouterr().out


def test_model_problem_names_only_models_that_cannot_run(without_rembg):
    assert optional_features.model_problem("u2netp") is None
    assert optional_features.model_problem("silueta") is None
    problem = optional_features.model_problem("u2net_cloth_seg")
    assert problem and problem.startswith("Model u2net_cloth_seg, chosen in the settings,")
