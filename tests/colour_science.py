"""Colour science for the tests, written from the standards and independent of LittleCMS (which
the code under test uses): RGB colour spaces from their primaries, CIELAB, and CIE delta E 1976
and 2000. test_colour_conversion.py checks this module against Sharma, Wu and Dalal's published
CIEDE2000 test data before trusting it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

D65 = (0.3127, 0.3290)  # CIE 1931 xy of the white points
D50 = (0.3457, 0.3585)
# Bradford cone response (Lam 1985), as ICC profiles adapt white points with it.
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)

# The 24 patches of the X-Rite ColorChecker Classic in 8-bit sRGB (D65), as published with the
# chart (BabelColor's average of measured charts; also listed on Wikipedia's ColorChecker page).
COLORCHECKER = {
    "dark skin": (115, 82, 68),
    "light skin": (194, 150, 130),
    "blue sky": (98, 122, 157),
    "foliage": (87, 108, 67),
    "blue flower": (133, 128, 177),
    "bluish green": (103, 189, 170),
    "orange": (214, 126, 44),
    "purplish blue": (80, 91, 166),
    "moderate red": (193, 90, 99),
    "purple": (94, 60, 108),
    "yellow green": (157, 188, 64),
    "orange yellow": (224, 163, 46),
    "blue": (56, 61, 150),
    "green": (70, 148, 73),
    "red": (175, 54, 60),
    "yellow": (231, 199, 31),
    "magenta": (187, 86, 149),
    "cyan": (8, 133, 161),
    "white": (243, 243, 242),
    "neutral 8": (200, 200, 200),
    "neutral 6.5": (160, 160, 160),
    "neutral 5": (122, 122, 121),
    "neutral 3.5": (85, 85, 85),
    "black": (52, 52, 52),
}


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz_matrix(primaries, white) -> np.ndarray:
    """The linear RGB -> XYZ matrix of a colour space from its primaries' and white's xy."""
    columns = np.stack([_xyz(xy) for xy in primaries], axis=1)
    scale = np.linalg.solve(columns, _xyz(white))
    return columns * scale


def bradford(source_white, target_white) -> np.ndarray:
    """The XYZ -> XYZ matrix adapting colours seen under one white to another."""
    source, target = _BRADFORD @ _xyz(source_white), _BRADFORD @ _xyz(target_white)
    return np.linalg.inv(_BRADFORD) @ np.diag(target / source) @ _BRADFORD


@dataclass(frozen=True)
class RGBSpace:
    name: str
    primaries: tuple
    white: tuple[float, float]
    encode: object  # linear 0..1 -> encoded 0..1
    decode: object

    @property
    def to_xyz(self) -> np.ndarray:
        return rgb_to_xyz_matrix(self.primaries, self.white)


def _srgb_encode(v):
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def _srgb_decode(v):
    return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4))


ADOBE_GAMMA = 563 / 256  # Adobe RGB (1998) Color Image Encoding, section 4.3.1.2
ROMM_TOE = 1 / 512  # ROMM RGB (ProPhoto), ISO 22028-2: linear below this, then gamma 1.8

SRGB = RGBSpace(  # IEC 61966-2-1
    "sRGB", ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), D65, _srgb_encode, _srgb_decode
)
ADOBE_RGB = RGBSpace(
    "Adobe RGB (1998)",
    ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)),
    D65,
    lambda v: np.power(v, 1 / ADOBE_GAMMA),
    lambda v: np.power(v, ADOBE_GAMMA),
)
ROMM_RGB = RGBSpace(
    "ROMM RGB",
    ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001)),
    D50,
    lambda v: np.where(v < ROMM_TOE, 16 * v, np.power(v, 1 / 1.8)),
    lambda v: np.where(v < 16 * ROMM_TOE, v / 16, np.power(v, 1.8)),
)


def convert(pixels: np.ndarray, source: RGBSpace, target: RGBSpace) -> np.ndarray:
    """8-bit ``pixels`` of ``source`` as 8-bit ``target`` (relative colorimetric: white to
    white by Bradford, colours outside ``target`` clipped)."""
    linear = source.decode(np.asarray(pixels, float) / 255.0)
    matrix = np.linalg.inv(target.to_xyz) @ bradford(source.white, target.white) @ source.to_xyz
    out = np.clip(linear @ matrix.T, 0.0, 1.0)
    return np.round(target.encode(out) * 255.0).astype(np.uint8)


def srgb_to_lab(pixels: np.ndarray) -> np.ndarray:
    """CIELAB (D65 white) of 8-bit sRGB ``pixels`` (..., 3)."""
    xyz = SRGB.decode(np.asarray(pixels, float) / 255.0) @ SRGB.to_xyz.T
    t = xyz / _xyz(D65)
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


def delta_e_76(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(lab1, float) - np.asarray(lab2, float), axis=-1)


def delta_e_2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 (CIE 142-2001), as Sharma, Wu and Dalal (2005) spell out its computation."""
    l1, a1, b1 = np.moveaxis(np.asarray(lab1, float), -1, 0)
    l2, a2, b2 = np.moveaxis(np.asarray(lab2, float), -1, 0)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    chroma_zero = c1p * c2p == 0
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chroma_zero, 0.0, dh)
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(
        np.abs(h1p - h2p) > 180,
        np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2),
        h_sum / 2,
    )
    h_mean = np.where(chroma_zero, h_sum, h_mean)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    rotation = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * rotation)) * r_c
    return np.sqrt(
        (d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h)
    )
