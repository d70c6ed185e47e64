"""The Process tab's settings section: the chosen preset, model and workers, and each preset's
own options. A section of the typed settings file (core/settings.py)."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fibuca_desktop.core.errors import SettingsError, UsageError
from fibuca_desktop.core.imaging.models import DEFAULT_MODEL, MODELS
from fibuca_desktop.core.imaging.name_template import optional_template
from fibuca_desktop.core.imaging.output_naming import Naming
from fibuca_desktop.core.imaging.presets import DEFAULT_PRESET, PRESETS, WHITE, Preset
from fibuca_desktop.core.profiles.profiles import PROFILE_NAME, Profile, get_profile
from fibuca_desktop.core.settings_schema import show

log = logging.getLogger(__name__)

MAX_WORKERS = 64
MASK_CACHE_MB = (16, 1024 * 1024)  # the mask store's cap: from a few hundred photos to 1 TB
OPTION_NAMES = ("max_side", "format", "quality", "background", "margin", "edges")
# Checks one option at a time; its background keeps "format: jpeg" alone from failing.
_NEUTRAL = Preset("neutral", "checks a single option", background=WHITE)


@dataclass
class PresetOptions:
    """What the user changed in one preset (None: as the preset says); ``Preset.with_options``
    takes these as keyword arguments."""

    max_side: int | None = None
    format: str | None = None
    quality: int | None = None
    background: str | None = None
    margin: float | None = None
    edges: str | None = None  # "refined" or "rembg"; a file saved before issue 11 has none

    def check(self, where: str) -> None:
        for name in OPTION_NAMES:
            try:
                _NEUTRAL.with_options(**{name: getattr(self, name)})
            except UsageError as error:  # drop the CLI flag: "--quality 0 is ..." -> "0 is ..."
                message = re.sub(r"^--[a-z-]+ ", "", str(error))
                raise SettingsError(f"{where}.{name}: {message}") from None


@dataclass
class ProcessingSettings:
    """Background removal defaults. ``options`` holds each preset's own changes, by preset name:
    options set for one preset never leak into another."""

    preset: str = DEFAULT_PRESET
    model: str = DEFAULT_MODEL
    output_dir: str | None = None  # None: the UI's default, a folder next to the input
    workers: int | None = None  # None: automatic
    overwrite: bool = False
    options: dict[str, PresetOptions] = field(default_factory=dict)
    mask_cache_mb: int = 2048  # the mask store's cap (mask_store.py), least recently used out
    profile: str | None = None  # an export profile (core/profiles/): it brings its own preset
    name_template: str = ""  # output names, as --name; "" = the input's own name ({stem})

    def output_folder(self) -> Path | None:
        """The chosen output folder (``~`` expanded); None: beside the first photos added."""
        return Path(self.output_dir).expanduser() if self.output_dir else None

    def options_for(self, name: str | None = None) -> PresetOptions:
        """A copy of the options of preset ``name`` (default: the chosen one)."""
        stored = self.options.get(name or self.preset)
        return PresetOptions(**asdict(stored)) if stored is not None else PresetOptions()

    def set_options(self, name: str, options: PresetOptions) -> None:
        """Keep ``options`` for preset ``name``; all None removes the entry. Validate first
        (``get_preset(name).with_options(**asdict(options))``): the dialog does."""
        if options == PresetOptions():
            self.options.pop(name, None)
        else:
            self.options[name] = PresetOptions(**asdict(options))

    def naming(self, preset: Preset) -> Naming | None:
        """How outputs are named for ``preset``: None for the inputs' own names. Never raises:
        a template set in code without ``check`` is left out (and logged)."""
        try:
            template = optional_template(self.name_template)
        except UsageError as error:
            log.warning("the name template is left out: %s", error)
            return None
        return Naming(template, preset, self.naming_profile) if template else None

    @property
    def naming_profile(self) -> str:
        """{profile}: the chosen export profile's name, '' when none."""
        return self.profile or ""

    def resolved_preset(self) -> Preset:
        """The chosen preset with its options. Never raises: loading, saving and the Options
        dialog refuse a combination that cannot be written, so none is ever stored; one set
        in code without that check is left out (and logged), as is an unknown preset name."""
        preset = PRESETS.get(self.preset) if isinstance(self.preset, str) else None
        preset = preset or PRESETS[DEFAULT_PRESET]
        try:
            stored = self.options.get(preset.name)
            return preset.with_options(**asdict(stored)) if stored is not None else preset
        except (UsageError, AttributeError, TypeError, ValueError) as error:
            log.warning("the options of preset %s are left out: %s", preset.name, error)
            return preset

    def resolved_profile(self) -> Profile | None:
        """The chosen export profile, or None. Raises UsageError when it is not known (any
        more) or the user's profiles file has a problem: the caller says so."""
        return get_profile(self.profile) if self.profile else None

    def check(self, where: str) -> None:
        if self.profile is not None and not (
            isinstance(self.profile, str) and PROFILE_NAME.match(self.profile)
        ):
            raise SettingsError(
                f"{where}.profile must be a profile's name (fibuca-desktop profiles list) or "
                f"null, got {show(self.profile)}"
            )
        for name, known in (("preset", PRESETS), ("model", MODELS)):
            if getattr(self, name) not in known:
                choices = ", ".join(known)
                raise SettingsError(
                    f"{where}.{name} must be one of {choices}, got {show(getattr(self, name))}"
                )
        if self.workers is not None and not 1 <= self.workers <= MAX_WORKERS:
            raise SettingsError(
                f"{where}.workers must be between 1 and {MAX_WORKERS}, got {show(self.workers)}"
            )
        low, high = MASK_CACHE_MB
        if not low <= self.mask_cache_mb <= high:
            raise SettingsError(
                f"{where}.mask_cache_mb must be between {low} and {high} (MB), got "
                f"{show(self.mask_cache_mb)}"
            )
        if self.output_dir is not None and not self.output_dir.strip():
            raise SettingsError(f"{where}.output_dir must be a folder or null, not empty text")
        if self.output_dir is not None and "\x00" in self.output_dir:
            raise SettingsError(
                f"{where}.output_dir must be a folder name, got {show(self.output_dir)}"
            )
        if self.output_dir is not None and not os.path.isabs(os.path.expanduser(self.output_dir)):
            raise SettingsError(  # relative to what? the folder the app happened to start in
                f"{where}.output_dir must be a full folder path such as /home/me/cut-outs, got "
                f"{show(self.output_dir)}"
            )
        try:
            optional_template(self.name_template)
        except UsageError as error:
            raise SettingsError(f"{where}.name_template: {error}") from None
        for name, options in self.options.items():
            if name not in PRESETS:
                raise SettingsError(f"{where}.options.{name}: there is no preset named {name!r}")
            try:
                PRESETS[name].with_options(**asdict(options))
            except UsageError as error:
                raise SettingsError(
                    f"{where}.options.{name}: these options do not fit the {name} preset: {error}"
                ) from None
