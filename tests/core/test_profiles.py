"""Export profiles are data: the built-in ones cite their sources, a user's file is validated with
the line of the problem, and a user profile can never redefine a built-in one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.profiles.profiles import (
    BUILT_IN_FILE,
    get_profile,
    load_profiles,
    user_profiles_path,
)
from fibuca_desktop.core.resources import resources_dir

BUILT_IN = ("amazon", "shopify", "ebay", "etsy", "google")


def test_the_five_marketplaces_are_built_in_with_their_sources(tmp_path):
    profiles = load_profiles(tmp_path / "none.toml")
    assert tuple(profiles) == BUILT_IN
    for profile in profiles.values():
        assert profile.origin == "built-in"
        assert profile.sources and all("https://" in source for source in profile.sources)
        assert profile.preset.canvas and profile.preset.background == (255, 255, 255)
        assert profile.rules.colour_space == "sRGB" and profile.rules.max_file_mb


def test_every_number_in_the_built_in_profiles_says_where_it_comes_from():
    lines = (resources_dir() / BUILT_IN_FILE).read_text("utf-8").splitlines()
    numbered = [line for line in lines if re.match(r"^\w+\s*=\s*[\d.]+\s*(#|$)", line)]
    assert len(numbered) > 25
    uncited = [line for line in numbered if "#" not in line and not line.startswith("quality")]
    assert uncited == []


def test_the_marketplace_numbers_are_the_published_ones(tmp_path):
    profiles = load_profiles(tmp_path / "none.toml")
    amazon, google, shopify = profiles["amazon"], profiles["google"], profiles["shopify"]
    assert amazon.rules.min_share == 0.85 and amazon.rules.min_long_side == 1000
    assert amazon.rules.max_file_mb == 10 and amazon.rules.white_frame
    assert amazon.preset.format == "jpeg"
    assert (google.rules.min_share, google.rules.max_share) == (0.75, 0.90)
    assert google.rules.no_upscale and google.rules.white_frame
    assert shopify.preset.canvas == 2048


def _user_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(text, "utf-8")
    return path


def test_a_user_profile_is_added_beside_the_built_in_ones(tmp_path):
    path = _user_file(
        tmp_path,
        '[shop-catalogue]\ndescription = "our shop"\n[shop-catalogue.output]\n'
        'format = "png"\ncanvas = 1000\nfill = 0.8\nanchor = "bottom"\n'
        "[shop-catalogue.rules]\nmin_share = 0.7\nmax_file_mb = 2\n",
    )
    profile = get_profile("shop-catalogue", path)
    assert profile.origin == str(path)
    assert profile.preset.format == "png" and profile.preset.canvas == 1000
    assert profile.preset.product_share == 0.8 and profile.preset.anchor == "bottom"
    assert profile.rules.min_share == 0.7 and profile.rules.max_file_mb == 2


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[a]\ndescription = "x"\n[a.output\n', 3, "not valid TOML"),
        ('[a]\ndescription = "x"\ncolour = 2\n', 3, "unknown key 'colour'"),
        ("[a]\n[a.output]\ncanvas = 900\nfill = 2\n", 4, "output.fill 2 is out of range"),
        ('[a]\n[a.output]\ncanvas = 900\n\nformat = "gif"\n', 5, "output.format gif"),
        ('[a]\n[a.output]\nbackground = "nope"\n', 3, "is not a colour"),
        ("[a]\n[a.output]\ncanvas = 900\n[a.rules]\nmin_share = 1.5\n", 5, "is a share"),
        ("[a]\n[a.output]\ncanvas = 900\n[a.rules]\nwhite = true\n", 5, "unknown rule 'white'"),
        (
            '[a]\n[a.output]\nbackground = "black"\ncanvas = 900\n[a.rules]\nwhite_frame = true\n',
            6,
            "white_frame needs",
        ),
        ('["A B"]\ndescription = "x"\n', 1, "lower-case"),
    ],
)
def test_a_bad_user_file_names_the_line(tmp_path, text, line, words):
    path = _user_file(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_profiles(path)
    message = str(caught.value)
    assert str(path) in message and words in message
    assert f"line {line}" in message


def test_a_user_profile_cannot_redefine_a_built_in_one(tmp_path):
    path = _user_file(tmp_path, '[amazon]\n[amazon.output]\nformat = "png"\ncanvas = 500\n')
    with pytest.raises(UsageError, match="'amazon' is built in"):
        load_profiles(path)


def test_an_unknown_profile_lists_the_known_ones(tmp_path):
    with pytest.raises(UsageError, match="amazon, shopify, ebay, etsy, google"):
        get_profile("ebey", tmp_path / "none.toml")


def test_the_user_file_lives_beside_the_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("FIBUCA_PROFILES_FILE", raising=False)
    monkeypatch.setenv("FIBUCA_SETTINGS_FILE", str(tmp_path / "conf" / "settings.toml"))
    assert user_profiles_path() == tmp_path / "conf" / "profiles.toml"
