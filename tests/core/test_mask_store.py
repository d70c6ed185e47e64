"""The mask store (issue 12, "Masks are kept"): a photo rendered again reads its stored or edited
mask and never loads the model; damaged files are cache misses; the cap removes the least
recently used masks, edits last; threads and a second process share one folder safely.

Real photos, the real u2netp model, real files. "Never loads the model" is proven twice over: a
fresh ``EngineProvider`` whose ``is_loaded`` stays False, over a model folder that is empty (a
model run would fail the job).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fibuca_desktop.core.errors import OutputError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.decode import Limits, decode, read_header
from fibuca_desktop.core.imaging.engine import ENGINE_VERSION, EngineProvider
from fibuca_desktop.core.imaging.mask_store import (
    PRUNE_TO,
    MaskKey,
    MaskStore,
    engine_version,
    mask_key,
)
from fibuca_desktop.core.imaging.models import ModelStore, spec_for
from fibuca_desktop.core.imaging.photo_masks import load_masks
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from tests.conftest import PHOTO_NAMES, PHOTOS

MODEL = "u2netp"


@pytest.fixture
def store(mask_store_folder) -> MaskStore:
    return MaskStore.default()


@pytest.fixture
def no_model(tmp_path) -> EngineProvider:
    """A fresh provider over an empty model folder: any model run fails."""
    return EngineProvider(ModelStore(tmp_path / "no-models"), threads=2)


@pytest.fixture(scope="module")
def raw_masks(u2netp_path) -> dict[str, Image.Image]:
    """Each fixture photo's raw u2netp mask (320 x 320), by photo name."""
    engine = EngineProvider(threads=2).get(MODEL)
    return {name: engine.predict_raw(decode(PHOTOS / name, Limits()).image) for name in PHOTO_NAMES}


def run(engines, preset, photo: Path, output: Path, store, **options):
    result = Pipeline(engines, preset, MODEL, masks=store, **options).process(Job(photo, output))
    assert result.status == PROCESSED, result.message
    return result


def model_file(store: MaskStore, key: MaskKey) -> Path:
    [path] = store.folder.glob(f"*/{key.digest}.{key.model}.*.model.png")
    return path


def test_the_key_is_the_content_the_model_and_the_engine(photos, tmp_path):
    photo = photos / "car-1.jpg"
    key = mask_key(photo, MODEL)
    copy = tmp_path / "renamed elsewhere.jpg"
    copy.write_bytes(photo.read_bytes())
    assert mask_key(copy, MODEL) == key  # a copied or renamed photo is found again
    changed = bytearray(photo.read_bytes())
    changed[-3] ^= 1
    copy.write_bytes(bytes(changed))
    assert mask_key(copy, MODEL).digest != key.digest
    assert mask_key(photo, "u2net") != key
    assert key.engine == engine_version(MODEL) == f"e{ENGINE_VERSION}-{spec_for(MODEL).md5[:12]}"
    for bad in (("../../etc", MODEL, key.engine), (key.digest, "a/b", key.engine)):
        with pytest.raises(ValueError):
            MaskKey(*bad)


def test_another_preset_uses_the_stored_mask_and_never_loads_the_model(
    engines, no_model, photos, tmp_path, store
):
    photo = photos / "car-2.jpg"
    first = run(engines, get_preset("transparent"), photo, tmp_path / "a.png", store)
    assert first.mask == "model"
    stored = store.model_mask(mask_key(photo, MODEL))
    assert stored is not None and stored.image.size == (320, 320)
    assert (stored.exact, stored.full_size) == (False, True)  # refined edges, the full photo
    for name, output in (("web", "b.jpg"), ("square", "c.jpg"), ("mask", "d.png")):
        assert run(no_model, get_preset(name), photo, tmp_path / output, store).mask == "stored"
    assert not no_model.is_loaded(MODEL)


@pytest.mark.parametrize("edges", ["rembg", "refined"])
def test_a_stored_mask_gives_the_model_runs_bytes(
    engines, no_model, photos, tmp_path, store, edges
):
    photo, preset = photos / "animal-1.jpg", get_preset("transparent").with_options(edges=edges)
    assert run(engines, preset, photo, tmp_path / "model.png", store).mask == "model"
    assert run(no_model, preset, photo, tmp_path / "stored.png", store).mask == "stored"
    assert (tmp_path / "model.png").read_bytes() == (tmp_path / "stored.png").read_bytes()


def test_an_exact_job_takes_only_an_exact_mask_made_at_least_at_its_size(
    engines, no_model, photos, tmp_path, store
):
    """--edges rembg promises rembg's mask: a mask from refined edges' fast input will not do (at
    12 MP they differ by up to 31 levels), nor, on the full-size photo, one made from a reduced
    copy. Such a job runs the model once; the better mask it stores serves every job after."""
    photo = tmp_path / "girl-12mp.jpg"
    with Image.open(photos / "girl-1.jpg") as image:
        image.resize((4000, 2660), Image.Resampling.LANCZOS).save(photo, quality=92)
    key = mask_key(photo, MODEL)
    web, transparent = get_preset("web"), get_preset("transparent")
    web_exact, transparent_exact = (p.with_options(edges="rembg") for p in (web, transparent))

    def stored() -> tuple[bool, bool]:
        mask = store.model_mask(key)
        return mask.exact, mask.full_size

    assert run(engines, web, photo, tmp_path / "a.jpg", store).mask == "model"
    assert stored() == (False, False)  # the fast input, from web's reduced copy
    assert run(engines, web_exact, photo, tmp_path / "b.jpg", store).mask == "model"
    assert stored() == (True, False)
    assert run(engines, web_exact, photo, tmp_path / "c.jpg", store).mask == "stored"
    assert run(engines, transparent_exact, photo, tmp_path / "d.png", store).mask == "model"
    assert stored() == (True, True)
    run(engines, transparent_exact, photo, tmp_path / "e.png", None)  # no store at all
    assert (tmp_path / "d.png").read_bytes() == (tmp_path / "e.png").read_bytes()
    for preset, output in ((transparent_exact, "f.png"), (web_exact, "g.jpg"), (web, "h.jpg")):
        assert run(no_model, preset, photo, tmp_path / output, store).mask == "stored"
    assert not no_model.is_loaded(MODEL)


def test_without_a_store_or_with_use_stored_off_the_model_runs(engines, photos, tmp_path, store):
    photo, web = photos / "car-1.jpg", get_preset("web")
    assert run(engines, web, photo, tmp_path / "a.jpg", None).mask == "model"
    assert run(engines, web, photo, tmp_path / "b.jpg", store, use_stored=False).mask == "model"
    assert store.size_bytes() == 0  # nothing written...
    assert run(engines, web, photo, tmp_path / "c.jpg", store).mask == "model"
    assert run(engines, web, photo, tmp_path / "d.jpg", store, use_stored=False).mask == "model"
    assert run(engines, web, photo, tmp_path / "e.jpg", store).mask == "stored"  # ...nor read


def _edit_of(model_mask: Image.Image) -> Image.Image:
    """The model's mask with a removed band and a kept block, as two brush strokes make."""
    edit = np.array(model_mask)
    height, width = edit.shape
    edit[:, : width // 4] = 0
    edit[height // 3 : height // 2, width // 2 : width - 10] = 255
    return Image.fromarray(edit, mode="L")


def test_an_edited_mask_wins_over_the_model_mask(engines, no_model, photos, tmp_path, store):
    photo = photos / "cloth-1.jpg"
    masks = load_masks(photo, MODEL, engines, store)
    assert masks.edited is None
    edit = _edit_of(masks.model_mask)
    store.put_edited_mask(masks.key, edit)
    assert store.has_edit(masks.key)
    exact_mask = get_preset("mask").with_options(edges="rembg")
    result = run(no_model, exact_mask, photo, tmp_path / "mask.png", store)
    assert result.mask == "edited"
    with Image.open(tmp_path / "mask.png") as written:
        assert np.array_equal(np.asarray(written), np.asarray(edit))  # the edit, exactly
    web = run(no_model, get_preset("web"), photo, tmp_path / "web.jpg", store)
    assert web.mask == "edited"
    with Image.open(tmp_path / "web.jpg") as small:
        left = np.asarray(small.convert("L"))[:, : small.width // 4 - 10]
    assert (left >= 240).all()  # removed by the edit: the white background
    assert not no_model.is_loaded(MODEL)
    assert store.drop_edited(masks.key) and not store.drop_edited(masks.key)
    assert run(no_model, exact_mask, photo, tmp_path / "again.png", store).mask == "stored"


def test_load_masks_runs_the_model_once_then_reads_the_store(photos, no_model, store, u2netp_path):
    photo = photos / "plants-1.jpg"  # an RGBA PNG named .jpg
    fresh = EngineProvider(threads=2)
    first = load_masks(photo, MODEL, fresh, store)
    assert fresh.is_loaded(MODEL)
    header = read_header(photo, Limits())
    assert first.image.size == first.model_mask.size == (header.width, header.height)
    assert first.image.mode == "RGBA" and first.model_mask.mode == "L"
    predicted = fresh.get(MODEL).predict(first.image, exact=True)
    assert np.array_equal(np.asarray(first.model_mask), np.asarray(predicted))
    assert store.model_mask(first.key).exact
    again = load_masks(photo, MODEL, no_model, store)
    assert not no_model.is_loaded(MODEL)
    assert np.array_equal(np.asarray(again.model_mask), np.asarray(first.model_mask))
    assert again.edited is None
    edit = _edit_of(first.model_mask)
    store.put_edited_mask(first.key, edit)
    assert np.array_equal(np.asarray(load_masks(photo, MODEL, no_model, store).edited), edit)


DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "not a PNG": lambda data: b"not an image at all" * 10,
    "empty": lambda data: b"",
    "a flipped bit": lambda data: (
        data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1 :]
    ),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_stored_mask_is_a_fresh_run(engines, photos, tmp_path, store, caplog, damage):
    photo = photos / "girl-1.jpg"
    run(engines, get_preset("transparent"), photo, tmp_path / "a.png", store)
    key = mask_key(photo, MODEL)
    path = model_file(store, key)
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    with caplog.at_level(logging.WARNING):
        assert run(engines, get_preset("web"), photo, tmp_path / "b.jpg", store).mask == "model"
    assert "unreadable stored mask" in caplog.text
    assert store.model_mask(key) is not None  # stored again, whole
    assert run(engines, get_preset("web"), photo, tmp_path / "c.jpg", store).mask == "stored"


def test_stored_masks_of_the_wrong_kind_or_size(engines, photos, tmp_path, store):
    photo, web = photos / "girl-1.jpg", get_preset("web")
    run(engines, web, photo, tmp_path / "a.jpg", store)
    key = mask_key(photo, MODEL)
    Image.new("RGB", (320, 320), "white").save(model_file(store, key))  # no mask: ignored
    assert run(engines, web, photo, tmp_path / "b.jpg", store).mask == "model"
    edit = model_file(store, key).with_name(f"{key.digest}.{MODEL}.edited.png")
    Image.new("L", (8, 8), 255).save(edit)  # an edit of another size is resized
    assert run(engines, web, photo, tmp_path / "c.jpg", store).mask == "edited"
    with Image.open(tmp_path / "c.jpg") as output:
        assert np.asarray(output).mean() < 250  # all kept: the photo, not a white page
    edit.write_bytes(b"junk")  # a damaged edit: the stored model mask
    assert run(engines, web, photo, tmp_path / "d.jpg", store).mask == "stored"


def test_a_store_that_cannot_be_written_never_fails_a_job(engines, photos, tmp_path):
    blocked = tmp_path / "a file, not a folder"
    blocked.write_bytes(b"")
    store = MaskStore(blocked)
    result = run(engines, get_preset("web"), photos / "car-3.jpg", tmp_path / "a.jpg", store)
    assert result.mask == "model"
    key = mask_key(photos / "car-3.jpg", MODEL)
    with pytest.raises(OutputError):  # but an edit, which cannot be made again, says so
        store.put_edited_mask(key, Image.new("L", (4, 4)))


def test_the_estimate_counts_an_edit_read_at_full_size(engines, store):
    header = read_header(PHOTOS / "animal-1.jpg", Limits())
    for name, extra in (("transparent", 0), ("web", header.pixels)):
        without = Pipeline(engines, get_preset(name), MODEL).estimate_bytes(header)
        assert Pipeline(engines, get_preset(name), MODEL, masks=store).estimate_bytes(header) == (
            without + extra
        )


def _fill(store: MaskStore, raw_masks) -> list[MaskKey]:
    """Every fixture photo's raw mask, stored one second apart (oldest first)."""
    keys = []
    for age, name in enumerate(PHOTO_NAMES):
        key = mask_key(PHOTOS / name, MODEL)
        store.put_model_mask(key, raw_masks[name], exact=True)
        _age(model_file(store, key), len(PHOTO_NAMES) - age)
        keys.append(key)
    return keys


def _age(path: Path, seconds_ago: float) -> None:
    stamp = path.stat().st_mtime - 1000 - seconds_ago
    os.utime(path, (stamp, stamp))


def _present(store: MaskStore, keys: list[MaskKey]) -> list[bool]:
    return [any(store.folder.glob(f"*/{key.digest}.*.model.png")) for key in keys]


def test_the_cap_removes_the_least_recently_used_and_edits_last(store, raw_masks):
    keys = _fill(store, raw_masks)
    edited = _edit_of(raw_masks[PHOTO_NAMES[0]].resize((900, 600)))
    store.put_edited_mask(keys[0], edited)  # the oldest photo has an edit
    [edit_file] = store.folder.glob("*/*.edited.png")
    _age(edit_file, 100)
    sizes = [model_file(store, key).stat().st_size for key in keys]
    store.model_mask(keys[1])  # read: now the most recently used
    total = store.size_bytes()
    assert total == sum(sizes) + edit_file.stat().st_size
    cap = total - sizes[2] // 2  # just over: down to 90% of the cap
    pruned = store.prune(cap)
    assert store.size_bytes() <= cap * PRUNE_TO < total
    present = _present(store, keys)
    gone = [i for i, kept in enumerate(present) if not kept]
    assert gone and gone == list(range(2, 2 + len(gone)))  # oldest first, the edited one spared
    assert present[0] and present[1] and present[-1] and store.has_edit(keys[0])
    assert (pruned.files, pruned.bytes) == (len(gone), sum(sizes[i] for i in gone))
    # A cap only the edit fits in: every model mask goes, the edited photo's own last.
    store.prune(int(edit_file.stat().st_size / PRUNE_TO) + 10)
    assert _present(store, keys) == [False] * len(keys) and store.has_edit(keys[0])
    assert store.prune(0).files == 1 and not store.has_edit(keys[0])


def test_puts_keep_the_store_under_its_cap(raw_masks, mask_store_folder):
    size = len(_png(raw_masks[PHOTO_NAMES[0]]))
    store = MaskStore(mask_store_folder, cap_bytes=size * 4)
    for name in PHOTO_NAMES:
        key = mask_key(PHOTOS / name, MODEL)
        store.put_model_mask(key, raw_masks[name], exact=False)
        assert store.size_bytes() <= store.cap_bytes
        assert store.model_mask(key) is not None  # the newest is never the one removed
    assert sum(_present(store, [mask_key(PHOTOS / n, MODEL) for n in PHOTO_NAMES])) < 9


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def test_clear_removes_everything_and_stale_temporary_files(store, raw_masks):
    keys = _fill(store, raw_masks)
    store.put_edited_mask(keys[0], raw_masks[PHOTO_NAMES[0]])
    shard = model_file(store, keys[1]).parent
    stale, live = shard / ".x.model.png.abcdefgh.part", shard / ".y.model.png.ijklmnop.part"
    stale.write_bytes(b"left by a killed writer")
    live.write_bytes(b"being written")
    _age(stale, 7200)
    (shard / "notes.txt").write_text("not ours")
    assert store.prune().files == 1 and not stale.exists() and live.exists()
    freed = store.clear()
    assert freed.files == len(keys) + 1
    assert sorted(p.name for p in shard.iterdir()) == [live.name, "notes.txt"]


def test_threads_putting_reading_and_pruning_at_once(raw_masks, mask_store_folder):
    masks = list(raw_masks.values())
    store = MaskStore(mask_store_folder, cap_bytes=len(_png(masks[0])) * 10)
    errors: list[BaseException] = []
    done = threading.Event()

    def keys(worker: int) -> list[MaskKey]:
        return [_key(f"{worker}-{i}") for i in range(40)]

    def putter(worker: int) -> None:
        try:
            for i, key in enumerate(keys(worker)):
                assert store.put_model_mask(key, masks[i % len(masks)], exact=True)
                store.model_mask(keys(worker)[i // 2])  # perhaps removed meanwhile: None
        except BaseException as error:
            errors.append(error)

    def pruner() -> None:
        try:
            while not done.is_set():
                store.prune(store.cap_bytes // 2)
                store.size_bytes()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=putter, args=(n,)) for n in range(3)]
    pruning = threading.Thread(target=pruner)
    pruning.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    pruning.join()
    assert errors == []
    store.prune()
    assert store.size_bytes() <= store.cap_bytes
    _all_readable(store)


def _key(text: str) -> MaskKey:
    return MaskKey(hashlib.blake2b(text.encode(), digest_size=20).hexdigest(), MODEL, "e1-test")


def _all_readable(store: MaskStore) -> None:
    files = list(store.folder.rglob("*"))
    assert not [f for f in files if f.name.endswith(".part")]
    for path in (f for f in files if f.is_file()):
        with Image.open(path) as image:
            image.load()
            assert image.mode == "L"


SECOND_PROCESS = textwrap.dedent(
    """
    import hashlib, sys
    from pathlib import Path
    from PIL import Image
    from fibuca_desktop.core.imaging.mask_store import MaskKey, MaskStore
    store = MaskStore(Path(sys.argv[1]), cap_bytes=int(sys.argv[2]))
    mask = Image.open(sys.argv[3]).convert("L")
    for i in range(150):
        digest = hashlib.blake2b(b"other %d" % i, digest_size=20).hexdigest()
        key = MaskKey(digest, "u2netp", "e1-x")
        assert store.put_model_mask(key, mask, exact=False)
        store.model_mask(key)
    store.prune()
    print("ok")
    """
)


def test_a_second_process_shares_the_folder(raw_masks, mask_store_folder, tmp_path):
    mask = raw_masks[PHOTO_NAMES[0]]
    mask.save(tmp_path / "mask.png")
    cap = len(_png(mask)) * 12
    store = MaskStore(mask_store_folder, cap_bytes=cap)
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SECOND_PROCESS,
            str(mask_store_folder),
            str(cap),
            str(tmp_path / "mask.png"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rounds = 0
    while other.poll() is None or rounds < 20:
        key = _key(f"here {rounds}")
        assert store.put_model_mask(key, mask, exact=True)
        store.prune(cap // 2)
        rounds += 1
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0 and out.strip() == "ok", err
    store.prune()
    assert store.size_bytes() <= cap
    _all_readable(store)
