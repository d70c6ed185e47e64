"""The mask store through the real CLI (issue 12): ``process`` again with another preset reads the
stored or edited masks, even with the model file gone; ``--no-mask-cache`` runs the model and
stores nothing; ``masks path`` and ``masks prune`` say what they did.

Each test has its own store (conftest's ``mask_store_folder``, inherited by the subprocesses).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fibuca_desktop.core.imaging.mask_store import MaskStore, mask_key
from fibuca_desktop.core.imaging.photo_masks import load_masks
from tests import corpus

NAMES = ("car-1.jpg", "girl-1.jpg", "animal-2.jpg")


def cli(*args, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fibuca_desktop", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def process(*args, env=None) -> tuple[subprocess.CompletedProcess, dict]:
    done = cli("process", *args, "--json", env=env)
    return done, (json.loads(done.stdout) if done.stdout.strip() else {})


def masks_of(report: dict) -> list[str]:
    return [item["mask"] for item in report["processed"]]


@pytest.fixture
def inputs(tmp_path) -> Path:
    corpus.copy_photos(tmp_path / "in", *NAMES)
    return tmp_path / "in"


@pytest.fixture
def no_model(tmp_path) -> dict[str, str]:
    """The model file out of reach: an empty model folder (rembg's other folder follows it)."""
    (tmp_path / "no-models").mkdir()
    return {"U2NET_HOME": str(tmp_path / "no-models")}


def test_another_preset_uses_the_stored_masks_even_without_the_model(
    inputs, tmp_path, no_model, u2netp_path, mask_store_folder
):
    done, report = process(inputs, "-o", tmp_path / "first")
    assert done.returncode == 0, done.stderr
    assert masks_of(report) == ["model"] * 3
    assert len(list(mask_store_folder.glob("*/*.model.png"))) == 3
    done, report = process(inputs, "-o", tmp_path / "web", "--preset", "web", env=no_model)
    assert done.returncode == 0, done.stderr
    assert masks_of(report) == ["stored"] * 3
    assert "model u2netp is not available; every photo's mask is stored" in done.stderr
    assert sorted(p.name for p in (tmp_path / "web").iterdir() if p.suffix == ".jpg") == sorted(
        Path(n).with_suffix(".jpg").name for n in NAMES
    )
    text = cli("process", inputs, "-o", tmp_path / "mask", "--preset", "mask", env=no_model)
    assert text.returncode == 0, text.stderr
    assert "  masks: 3 stored, 0 edited, 0 from the model" in text.stdout


def test_a_photo_without_a_stored_mask_still_fails_early_without_the_model(
    inputs, tmp_path, no_model, u2netp_path
):
    done, _ = process(inputs, "-o", tmp_path / "first")
    assert done.returncode == 0, done.stderr
    corpus.copy_photos(inputs, "car-2.jpg")  # new: its mask is not stored
    done, _ = process(inputs, "-o", tmp_path / "web", "--preset", "web", env=no_model)
    assert done.returncode == 1
    assert "Model u2netp is not ready" in done.stderr and "models fetch u2netp" in done.stderr
    assert not (tmp_path / "web").exists()


def test_rembg_edges_need_an_exact_mask_not_the_refined_edges_fast_one(
    inputs, tmp_path, no_model, u2netp_path
):
    process(inputs, "-o", tmp_path / "refined")  # stored from the fast model input
    done, _ = process(inputs, "-o", tmp_path / "rembg", "--edges", "rembg", env=no_model)
    assert done.returncode == 1 and "Model u2netp is not ready" in done.stderr
    done, report = process(inputs, "-o", tmp_path / "rembg", "--edges", "rembg")
    assert done.returncode == 0 and masks_of(report) == ["model"] * 3  # now stored exactly
    for preset in ("transparent", "web", "mask"):
        args = ("-o", tmp_path / preset, "--edges", "rembg", "--preset", preset)
        done, report = process(inputs, *args, env=no_model)
        assert done.returncode == 0, done.stderr
        assert masks_of(report) == ["stored"] * 3


def test_an_edit_is_used_by_process_without_the_model(inputs, tmp_path, no_model, engines):
    photo = inputs / "girl-1.jpg"
    store = MaskStore.default()
    masks = load_masks(photo, "u2netp", engines, store)
    edit = np.array(masks.model_mask)
    edit[:, : edit.shape[1] // 3] = 0  # a Remove stroke over the left third
    store.put_edited_mask(masks.key, Image.fromarray(edit, mode="L"))
    out = tmp_path / "out"
    done, report = process(photo, "-o", out, "--preset", "mask", "--edges", "rembg", env=no_model)
    assert done.returncode == 0, done.stderr
    assert masks_of(report) == ["edited"]
    with Image.open(out / "girl-1.png") as written:
        assert np.array_equal(np.asarray(written), edit)


def test_no_mask_cache_runs_the_model_and_stores_nothing(
    inputs, tmp_path, no_model, u2netp_path, mask_store_folder
):
    done, report = process(inputs, "-o", tmp_path / "a", "--no-mask-cache")
    assert done.returncode == 0, done.stderr
    assert masks_of(report) == ["model"] * 3
    assert list(mask_store_folder.rglob("*.png")) == []
    process(inputs, "-o", tmp_path / "b")  # now stored
    done, report = process(inputs, "-o", tmp_path / "c", "--no-mask-cache")
    assert masks_of(report) == ["model"] * 3  # the stored masks are not read
    done, _ = process(inputs, "-o", tmp_path / "d", "--no-mask-cache", env=no_model)
    assert done.returncode == 1 and "Model u2netp is not ready" in done.stderr
    assert "--no-mask-cache" in cli("process", "--help").stdout


def test_masks_path_prints_the_folder(mask_store_folder, tmp_path):
    done = cli("masks", "path")
    assert done.returncode == 0 and done.stdout == f"{mask_store_folder}\n"
    env = {"FIBUCA_MASKS_DIR": "", "FIBUCA_CACHE_DIR": str(tmp_path / "cache")}
    assert cli("masks", "path", env=env).stdout == f"{tmp_path / 'cache' / 'masks'}\n"


def test_masks_prune_frees_what_is_over_the_cap(inputs, tmp_path, mask_store_folder, engines):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"schema_version": 1, "processing": {"mask_cache_mb": 16}}))
    env = {"FIBUCA_SETTINGS_FILE": str(settings)}
    store = MaskStore.default()
    for name in NAMES:
        load_masks(inputs / name, "u2netp", engines, store)
    key = mask_key(inputs / NAMES[0], "u2netp")
    store.put_edited_mask(key, Image.new("L", (480, 360), 255))
    before = settings.read_bytes()
    done = cli("masks", "prune", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("freed 0.0 MB (0 files); the store in ")
    assert done.stdout.rstrip().endswith("(cap 16 MB)")
    assert settings.read_bytes() == before  # read, never rewritten
    done = cli("masks", "prune", "--max-mb", "0", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("freed 0.0 MB (4 files)") and "holds 0.0 MB" in done.stdout
    assert list(mask_store_folder.rglob("*.png")) == []
    load_masks(inputs / NAMES[0], "u2netp", engines, store)
    store.put_edited_mask(key, Image.new("L", (480, 360), 255))
    done = cli("masks", "prune", "--all", env=env)
    assert done.returncode == 0 and done.stdout.startswith("freed 0.0 MB (2 files)")
    assert not store.has_edit(key)


@pytest.mark.parametrize("args", [["prune", "--max-mb", "-1"], ["prune", "--max-mb", "lots"]])
def test_masks_usage_errors_are_one_line(args):
    done = cli("masks", *args)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("fibuca-desktop masks prune: error:")
