"""The mask store: each photo's model mask, and the user's edit of it, kept between runs.

Rendering a photo again (another preset, after an edit) reads its mask here instead of running
the model. Masks are keyed by the input file's content, not its name or folder: a copied or
renamed photo is found again, a changed one is not. The model mask is also keyed by the model
and the engine version (``engine.ENGINE_VERSION`` and the model file's md5), so a mask made by
other code or weights is never reused. The edit is keyed by content and model only: it is the
user's work, and a new engine version must not make it vanish.

Files, one folder per first two hex digits of the digest::

    <folder>/ab/<digest>.<model>.<engine>.model.png   the model's raw output (320 x 320, ~6 KB)
    <folder>/ab/<digest>.<model>.edited.png           the edit, at the photo's full resolution

Each is written atomically (core/atomic_write.py) and read whole; a damaged or unreadable file
is logged and treated as missing. Reading touches the file's mtime: the cap removes the least
recently used first, files of photos without an edit before any edit. Several threads and
several processes (the window and a CLI run) may use one folder at once: files appear by
rename, and every removal tolerates a file that another process removed first.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from fibuca_desktop.core.atomic_write import write_atomically
from fibuca_desktop.core.errors import OutputError
from fibuca_desktop.core.imaging.engine import ENGINE_VERSION
from fibuca_desktop.core.imaging.models import spec_for
from fibuca_desktop.core.imaging.static_resize import cache_dir

log = logging.getLogger(__name__)

MB = 1024 * 1024
DEFAULT_CAP = 2048 * MB
PRUNE_TO = 0.9  # over the cap, remove down to this share of it: not one file at every put
PNG_COMPRESS_LEVEL = 3  # masks are mostly flat: level 3 is as fast as 1 and a little smaller
_CHUNK = 1 << 20
_RESCAN_S = 60.0  # another process's files are counted at the next scan, at most this late
_STALE_PART_S = 3600.0  # a temporary file this old belongs to a killed writer
_MAX_PIXELS = 256_000_000  # a stored mask larger than this is damaged, not a photo's
_EXACT = "fibuca-exact"  # PNG text: "1" when the model was given rembg's exact input
_FULL_SIZE = "fibuca-full-size"  # PNG text: "1" when made from the full-size photo
_MODEL_SUFFIX, _EDITED_SUFFIX = ".model.png", ".edited.png"
_NAME_PART = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class MaskKey:
    """Which masks belong to a photo: its content digest (hex), the model and the engine."""

    digest: str
    model: str
    engine: str

    def __post_init__(self) -> None:  # the parts become file names: nothing else may get in
        if not re.fullmatch(r"[0-9a-f]{16,128}", self.digest):
            raise ValueError(f"a mask key's digest must be hex, got {self.digest!r}")
        for part in (self.model, self.engine):
            if not _NAME_PART.fullmatch(part):
                raise ValueError(f"a mask key's model and engine must be plain names: {part!r}")


@dataclass(frozen=True)
class StoredMask:
    image: Image.Image  # "L", the model's own size (its input side, or rembg's full size)
    exact: bool  # made from rembg's exact model input (False: the faster reduced one)
    full_size: bool = True  # made from the full-size photo (False: a job's reduced copy)

    def serves(self, exact: bool, full_size: bool) -> bool:
        """Whether a job wanting ``exact`` on a ``full_size`` photo may use it: rembg's exact
        mask of the photo it works on, as it would compute it, or a truer one (from the full
        size); any mask serves a job that only needs the 0.5 cut (refined edges)."""
        return not exact or (self.exact and (self.full_size or not full_size))


@dataclass(frozen=True)
class Pruned:
    files: int
    bytes: int


def engine_version(model: str) -> str:
    """The engine part of a key: ``e<ENGINE_VERSION>-<the model file's md5 prefix>``."""
    md5 = spec_for(model).md5
    return f"e{ENGINE_VERSION}-{md5[:12]}" if md5 else f"e{ENGINE_VERSION}"


def mask_key(path: Path, model: str) -> MaskKey:
    """The key of the photo at ``path`` for ``model``. Reads the whole file (blake2b, ~2 ms
    for a 12 MP JPEG); raises OSError when it cannot be read."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return MaskKey(digest.hexdigest(), model, engine_version(model))


@dataclass(frozen=True)
class _File:
    path: Path
    size: int
    mtime: float
    rank: int  # removed first: 0 a model mask, 1 a model mask beside an edit, 2 an edit


class MaskStore:
    """One folder of masks, bounded by ``cap_bytes``. Thread-safe; shared across processes."""

    def __init__(self, folder: Path, cap_bytes: int = DEFAULT_CAP) -> None:
        self.folder = Path(folder)
        self.cap_bytes = cap_bytes
        self._lock = threading.Lock()
        self._prune_lock = threading.Lock()
        self._known_bytes: int | None = None  # the last scan's total plus the puts since
        self._scanned_at = 0.0

    @classmethod
    def default(cls, cap_bytes: int = DEFAULT_CAP) -> MaskStore:
        """``$FIBUCA_MASKS_DIR``, else ``masks`` in the user's cache folder."""
        override = os.environ.get("FIBUCA_MASKS_DIR")
        folder = Path(override).expanduser() if override else cache_dir() / "masks"
        return cls(folder, cap_bytes)

    def _model_path(self, key: MaskKey) -> Path:
        return self._shard(key) / f"{key.digest}.{key.model}.{key.engine}{_MODEL_SUFFIX}"

    def _edited_path(self, key: MaskKey) -> Path:
        return self._shard(key) / f"{key.digest}.{key.model}{_EDITED_SUFFIX}"

    def _shard(self, key: MaskKey) -> Path:
        return self.folder / key.digest[:2]

    def model_mask(self, key: MaskKey) -> StoredMask | None:
        """The model's stored raw mask; None when there is none or it cannot be read."""
        found = self._read(self._model_path(key))
        if found is None:
            return None
        image, text = found
        return StoredMask(image, text.get(_EXACT) == "1", text.get(_FULL_SIZE) == "1")

    def edited_mask(self, key: MaskKey) -> Image.Image | None:
        """The user's edit ("L", the upright photo's full size); None when there is none."""
        found = self._read(self._edited_path(key))
        return found[0] if found is not None else None

    def has_edit(self, key: MaskKey) -> bool:
        return self._edited_path(key).is_file()

    def put_model_mask(
        self, key: MaskKey, mask: Image.Image, exact: bool, full_size: bool = True
    ) -> bool:
        """Keep the model's raw mask (``StoredMask`` says what ``exact`` and ``full_size``
        mean). A store that cannot be written is logged and False is returned: the store is a
        cache, and no job fails for it."""
        info = PngInfo()
        info.add_text(_EXACT, "1" if exact else "0")
        info.add_text(_FULL_SIZE, "1" if full_size else "0")
        try:
            self._write(self._model_path(key), mask, info)
        except OutputError as error:
            log.warning("the mask of %s was not stored: %s", key.digest[:12], error)
            return False
        return True

    def put_edited_mask(self, key: MaskKey, mask: Image.Image) -> None:
        """Keep the user's edit, replacing an earlier one. Raises OutputError when it cannot be
        written: unlike the model's mask, an edit cannot be made again."""
        self._write(self._edited_path(key), mask, None)

    def drop_edited(self, key: MaskKey) -> bool:
        """Forget the edit ("Revert to model"); False when there was none. Raises OutputError
        when it exists and cannot be removed."""
        try:
            os.unlink(self._edited_path(key))
        except FileNotFoundError:
            return False
        except OSError as error:
            raise OutputError(
                f"Cannot remove the edited mask in {self.folder}: {error.strerror or error}."
            ) from error
        return True

    def size_bytes(self) -> int:
        """The bytes the store's files take now (a scan of the folder)."""
        return sum(file.size for files in self._scan() for file in files)

    def prune(self, cap_bytes: int | None = None) -> Pruned:
        """Over ``cap_bytes`` (default: the store's cap), remove least recently used files until
        under ``PRUNE_TO`` of it: model masks first, a model mask beside an edit next, edits only
        when nothing else is left. Temporary files of killed writers always go."""
        with self._prune_lock:  # one prune at a time here; another process's is tolerated
            return self._prune(self.cap_bytes if cap_bytes is None else cap_bytes)

    def clear(self) -> Pruned:
        """Remove every mask, edits included (temporary files still being written stay)."""
        with self._prune_lock:
            masks, writing, stale = self._scan()
            removed = [file for file in masks + stale if _remove(file.path)]
            self._counted(_bytes(writing))
        return Pruned(len(removed), _bytes(removed))

    def _prune(self, cap: int) -> Pruned:
        masks, writing, stale = self._scan()
        removed = [file for file in stale if _remove(file.path)]
        total = _bytes(masks) + _bytes(writing)
        if total > cap:
            target = int(cap * PRUNE_TO)
            for file in sorted(masks, key=lambda f: (f.rank, f.mtime)):
                if total <= target:
                    break
                total -= file.size  # removed here or by another process: gone either way
                if _remove(file.path):
                    removed.append(file)
        self._counted(total)
        if removed:
            log.info("mask store: removed %d files (%d bytes)", len(removed), _bytes(removed))
        return Pruned(len(removed), _bytes(removed))

    def _read(self, path: Path) -> tuple[Image.Image, dict[str, str]] | None:
        try:
            with Image.open(path) as image:
                if image.format != "PNG" or image.mode != "L":
                    raise ValueError(f"{image.format} {image.mode}, not an 8-bit grey PNG")
                if image.width * image.height > _MAX_PIXELS:
                    raise ValueError(f"{image.width}x{image.height} is no photo's mask")
                image.verify()  # every chunk's CRC: a flipped bit never becomes another mask
            with Image.open(path) as image:
                image.load()
                text = dict(getattr(image, "text", {}))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except Exception as error:  # whatever a damaged file raises, it is only a cache miss
            log.warning("ignoring the unreadable stored mask %s (%s)", path, error)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: the cap removes it last
        return image, text

    def _write(self, path: Path, mask: Image.Image, info: PngInfo | None) -> None:
        if mask.mode != "L":
            raise ValueError(f"a mask must be an 'L' image, got {mask.mode!r}")

        def encode(handle) -> None:
            mask.save(handle, "PNG", compress_level=PNG_COMPRESS_LEVEL, pnginfo=info)

        write_atomically(path, encode, overwrite=True)
        with contextlib.suppress(OSError):
            self._added(path.stat().st_size)

    def _added(self, size: int) -> None:
        """Count a put; scan and prune when the store may be over its cap."""
        with self._lock:
            fresh = self._known_bytes is not None
            fresh = fresh and time.monotonic() - self._scanned_at < _RESCAN_S
            if fresh:
                self._known_bytes += size
                if self._known_bytes <= self.cap_bytes:
                    return
        if self._prune_lock.acquire(blocking=False):  # a prune running already will do
            try:
                self._prune(self.cap_bytes)
            finally:
                self._prune_lock.release()

    def _counted(self, total: int) -> None:
        with self._lock:
            self._known_bytes, self._scanned_at = total, time.monotonic()

    def _scan(self) -> tuple[list[_File], list[_File], list[_File]]:
        """The masks, the temporary files being written and those a killed writer left. Files
        that vanish during the scan are skipped; files that are not ours are ignored."""
        found: list[tuple[Path, str, os.stat_result]] = []
        for shard in _entries(self.folder):
            if len(shard.name) != 2 or not shard.is_dir(follow_symlinks=False):
                continue
            for entry in _entries(Path(shard.path)):
                kind = _kind(entry.name)
                with contextlib.suppress(OSError):
                    if kind and entry.is_file(follow_symlinks=False):
                        found.append((Path(entry.path), kind, entry.stat()))
        edited = {path.name[: -len(_EDITED_SUFFIX)] for path, kind, _ in found if kind == "edited"}
        masks, writing, stale, now = [], [], [], time.time()
        for path, kind, info in found:
            file = _File(path, info.st_size, info.st_mtime, 2)
            if kind == "part":
                (stale if now - info.st_mtime > _STALE_PART_S else writing).append(file)
            elif kind == "edited":
                masks.append(file)
            else:
                beside_edit = ".".join(path.name.split(".")[:2]) in edited
                masks.append(_File(path, info.st_size, info.st_mtime, 1 if beside_edit else 0))
        return masks, writing, stale


def _entries(folder: Path) -> list[os.DirEntry]:
    """A folder's entries; none when it is missing or unreadable (a cache miss, not an error)."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []


def _kind(name: str) -> str | None:
    """What a file in a shard is: "model", "edited", "part" (being written) or None (not ours)."""
    if name.startswith(".") and name.endswith(".part"):
        return "part"
    if name.endswith(_EDITED_SUFFIX) and name.count(".") == 3:
        return "edited"
    if name.endswith(_MODEL_SUFFIX) and name.count(".") == 4:
        return "model"
    return None


def _remove(path: Path) -> bool:
    """Remove one file; False when it was already gone or cannot be removed (logged)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as error:
        log.warning("cannot remove %s from the mask store: %s", path, error.strerror or error)
        return False
    return True


def _bytes(files: list[_File]) -> int:
    return sum(file.size for file in files)
