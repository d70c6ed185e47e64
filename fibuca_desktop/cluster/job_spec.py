"""A photo's job as plain JSON, and the exact Pipeline settings a worker rebuilds from it.

The submitting side plans every output name (``plan_batch``, as a local batch does) and sends
the finished preset field by field, so a worker renders with the very values the submitter
resolved (options applied, a profile's preset included), not with its own defaults. A profile
travels by name: its rules come from the worker's built-in (or user) profiles of that name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.decode import Limits
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.core.profiles.profiles import Profile, get_profile

VERSION = 1


@dataclass(frozen=True)
class Settings:
    """Everything but the paths that makes a Pipeline: the same for every photo of a batch."""

    preset: Preset
    model: str
    limits: Limits
    overwrite: bool = False
    use_masks: bool = True
    tuning: str = "fast"
    profile: str | None = None

    def to_json(self) -> dict:
        fields = dataclasses.asdict(self.preset)
        return {
            "preset": fields,
            "profile": self.profile,
            "model": self.model,
            "limits": dataclasses.asdict(self.limits),
            "overwrite": self.overwrite,
            "use_masks": self.use_masks,
            "tuning": self.tuning,
        }

    @classmethod
    def from_json(cls, data: dict) -> Settings:
        fields = dict(data["preset"])
        if fields.get("background") is not None:
            fields["background"] = tuple(fields["background"])
        return cls(
            Preset(**fields),
            data["model"],
            Limits(**data["limits"]),
            bool(data["overwrite"]),
            bool(data["use_masks"]),
            data["tuning"],
            data.get("profile"),
        )

    def profile_object(self) -> Profile | None:
        """The named profile's rules over this preset (raises UsageError if the worker does not
        know the profile)."""
        if not self.profile:
            return None
        return get_profile(self.profile).with_preset(self.preset)


def job_to_json(job: Job, settings: Settings, existed: bool) -> dict:
    """One task's argument. ``existed``: the output was on disk when the batch was planned (so
    a file found there later without it is this photo's own, from a redelivered run)."""
    return {
        "v": VERSION,
        "input": str(job.input),
        "output": str(job.output),
        "existed": existed,
        **settings.to_json(),
    }


@dataclass(frozen=True)
class PathMap:
    """``FROM=TO``: a path under FROM on the submitting machine is under TO on this worker."""

    source: str
    target: str

    @classmethod
    def parse(cls, text: str) -> PathMap:
        source, equals, target = text.partition("=")
        if not equals or not source.strip() or not target.strip():
            raise UsageError(
                f"--path-map {text!r} is not FROM=TO; for example "
                "--path-map /mnt/share=/Volumes/share"
            )
        return cls(source.strip().rstrip("/\\") or "/", target.strip().rstrip("/\\") or "/")

    def apply(self, path: str) -> str | None:
        """``path`` on this machine, or None when it is not under ``source``."""
        normal = path.replace("\\", "/")
        source = self.source.replace("\\", "/")
        if normal == source:
            rest = ""
        elif normal.startswith(source.rstrip("/") + "/"):
            rest = normal[len(source.rstrip("/")) + 1 :]
        else:
            return None
        return str(Path(self.target, *PurePosixPath(rest).parts)) if rest else self.target


def map_path(path: str, maps: list[PathMap]) -> Path:
    """The first map that covers ``path`` decides (longest source first); no map: as given."""
    for path_map in sorted(maps, key=lambda m: len(m.source), reverse=True):
        mapped = path_map.apply(path)
        if mapped is not None:
            return Path(mapped)
    return Path(path)
