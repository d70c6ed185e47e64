"""`process --profile` and `profiles` from the command line, on real photos."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.conftest import PHOTOS
from tests.e2e.test_process_cli import report_of, run_cli


def profiles_cli(*args, env=None):
    command = [sys.executable, "-m", "fibuca_desktop", "profiles", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_profile_json_reports_every_check_and_the_summary_counts(tmp_path):
    result = run_cli(
        PHOTOS / "animal-1.jpg",
        PHOTOS / "car-1.jpg",
        "-o",
        tmp_path,
        "--profile",
        "google",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = report_of(result)
    by_name = {item["input"].rsplit("/", 1)[-1]: item for item in report["processed"]}
    for item in by_name.values():
        preflight = item["preflight"]
        assert set(preflight) == {"profile", "passed", "fixed", "checks"}
        assert preflight["profile"] == "google" and preflight["passed"] is True
        names = {check["name"] for check in preflight["checks"]}
        assert {"format", "colour_space", "white_frame", "product_share", "file_size"} <= names
        for check in preflight["checks"]:
            assert set(check) == {"name", "passed", "value", "limit"}
    # car-1 is 480 px: Google's "do not scale up" shrinks its canvas, and says so.
    assert any("not scaled up" in fix for fix in by_name["car-1.jpg"]["preflight"]["fixed"])
    fixed = sum(bool(item["preflight"]["fixed"]) for item in by_name.values())
    assert report["preflight"] == {"passed": 2 - fixed, "fixed": fixed, "failed": 0}


def test_a_failing_profile_exits_0_and_says_why_in_the_summary(tmp_path):
    user = tmp_path / "profiles.toml"
    user.write_text("[tiny]\n[tiny.output]\ncanvas = 1500\n[tiny.rules]\nmax_file_mb = 0.005\n")
    env = {**__import__("os").environ, "FIBUCA_PROFILES_FILE": str(user)}
    command = [
        sys.executable,
        "-m",
        "fibuca_desktop",
        "process",
        str(PHOTOS / "animal-1.jpg"),
        "-o",
        str(tmp_path / "out"),
        "--profile",
        "tiny",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr  # the photo was written: preflight reports
    assert "preflight (tiny): 0 passed, 0 fixed, 1 failed" in result.stdout
    assert "REJECTED" in result.stdout and "file_size" in result.stdout


def test_same_scale_keeps_a_small_product_smaller(tmp_path):
    # Two shots "from one camera": the tiger on a plain grey backdrop, and the tiger at half size
    # on the same backdrop (the cut-out comes from a first run of the transparent preset).
    cut = run_cli(PHOTOS / "animal-1.jpg", "-o", tmp_path / "cut")
    assert cut.returncode == 0, cut.stderr
    tiger = Image.open(tmp_path / "cut" / "animal-1.png")
    photos = tmp_path / "in"
    photos.mkdir()
    for name, factor in (("big", 1), ("small", 2)):
        shot = Image.new("RGB", tiger.size, (128, 128, 128))
        product = tiger.resize((tiger.width // factor, tiger.height // factor))
        offset = ((tiger.width - product.width) // 2, (tiger.height - product.height) // 2)
        shot.paste(product, offset, product)
        shot.save(photos / f"{name}.jpg", quality=95)
    shares = {}
    for flag in ([], ["--same-scale"]):
        out = tmp_path / ("same" if flag else "each")
        result = run_cli(photos, "-o", out, "--preset", "square", "--fill", "0.8", *flag)
        assert result.returncode == 0, result.stderr
        for name in ("big", "small"):
            pixels = np.asarray(Image.open(out / f"{name}.jpg").convert("L"))
            _ys, xs = np.nonzero(pixels < 235)
            shares[(bool(flag), name)] = (xs.max() - xs.min() + 1) / pixels.shape[1]
    assert abs(shares[(False, "big")] - 0.8) < 0.03 and abs(shares[(False, "small")] - 0.8) < 0.03
    assert abs(shares[(True, "big")] - 0.8) < 0.03
    assert abs(shares[(True, "small")] - 0.4) < 0.04  # half the tiger, half the share


def test_bottom_anchor_from_the_command_line(tmp_path):
    result = run_cli(
        PHOTOS / "car-1.jpg", "-o", tmp_path, "--profile", "amazon", "--anchor", "bottom"
    )
    assert result.returncode == 0, result.stderr
    pixels = np.asarray(Image.open(tmp_path / "car-1.jpg").convert("L"))
    ys, _ = np.nonzero(pixels < 235)
    assert abs((2000 - ys.max() - 1) - 100) <= 6  # (1 - 0.9) / 2 of 2000 px below it


def test_usage_errors_are_one_line_and_exit_2(tmp_path):
    for args, words in (
        (["--profile", "amazon", "--preset", "web"], "a profile brings its own preset"),
        (["--profile", "ebey"], "Unknown profile 'ebey'"),
        (["--preset", "web", "--fill", "0.8"], "place the product on a canvas"),
        (["--preset", "web", "--same-scale"], "--same-scale places every product"),
    ):
        result = run_cli(PHOTOS / "car-1.jpg", "-o", tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_profiles_list_and_show(tmp_path):
    listed = profiles_cli("list")
    assert listed.returncode == 0
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names == ["amazon", "shopify", "ebay", "etsy", "google"]
    shown = profiles_cli("show", "amazon", "--json")
    data = json.loads(shown.stdout)
    assert data["output"]["canvas"] == 2000 and data["rules"]["min_share"] == 0.85
    assert data["sources"][0].startswith("Amazon Seller Central")
    text = profiles_cli("show", "google")
    assert "max_share       0.9" in text.stdout and "support.google.com" in text.stdout
    bad = profiles_cli("show", "nope")
    assert bad.returncode != 0 and "Unknown profile" in bad.stderr and "Traceback" not in bad.stderr
