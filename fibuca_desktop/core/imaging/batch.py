"""Plan a batch: which files to process and the one output path each gets.

Rules: folders are walked recursively and mirrored under the output folder; nothing is ever
written into or beside an input folder; two inputs never share an output name (case-insensitive,
as on Windows and macOS).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from fibuca_desktop.core.errors import UsageError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".mpo"}
    | {".apng"}
)


@dataclass(frozen=True)
class Job:
    input: Path  # absolute
    output: Path  # absolute


@dataclass(frozen=True)
class Ignored:
    """A file found in a folder that is not an image by its name; listed, never silently dropped."""

    input: Path
    reason: str


@dataclass
class BatchPlan:
    jobs: list[Job]
    ignored: list[Ignored]


def _walk(folder: Path):
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root, name)


def plan_batch(inputs: list[Path], output_dir: Path, extension: str) -> BatchPlan:
    """Map inputs to outputs. Raises UsageError for a missing input or an unsafe output folder."""
    output_dir = Path(os.path.abspath(output_dir))
    existing = next(folder for folder in (output_dir, *output_dir.parents) if folder.exists())
    if not existing.is_dir():  # else every photo would fail alike with "File exists"
        raise UsageError(
            f"The output folder {output_dir} cannot be created: {existing} is a file, not a "
            "folder; choose another output folder."
        )
    resolved_out = output_dir.resolve()
    pairs: list[tuple[Path, Path]] = []  # (input, path relative to the output folder)
    ignored: list[Ignored] = []
    source_dirs: set[Path] = set()
    for raw in inputs:
        path = Path(os.path.abspath(raw))
        if path.is_dir():
            resolved = path.resolve()
            if resolved_out == resolved or resolved in resolved_out.parents:
                raise UsageError(
                    f"The output folder {output_dir} is inside the input folder {path}; choose an "
                    "output folder outside it so originals are never mixed with results."
                )
            for file in _walk(path):
                if file.suffix.lower() in IMAGE_EXTENSIONS:
                    pairs.append((file, file.relative_to(path)))
                    source_dirs.add(file.parent.resolve())
                else:
                    ignored.append(
                        Ignored(file, f"not an image file type ({file.suffix or 'no extension'})")
                    )
        elif path.is_file():
            pairs.append((path, Path(path.name)))
            source_dirs.add(path.parent.resolve())
        else:
            raise UsageError(f"{raw} does not exist; check the path.")
    jobs = _assign_outputs(pairs, output_dir, extension)
    for job in jobs:
        if job.output.parent.resolve() in source_dirs:
            raise UsageError(
                f"Output {job.output} would be written next to the originals in "
                f"{job.output.parent}; choose a separate output folder."
            )
    return BatchPlan(jobs, ignored)


def _assign_outputs(pairs, output_dir: Path, extension: str) -> list[Job]:
    """Deterministic unique names: the first input keeps ``name.ext``; a clash adds the source
    extension (``name-jpeg.png``), then a counter."""
    taken: set[str] = set()
    seen_inputs: set[Path] = set()
    jobs = []
    for source, relative in pairs:
        if source in seen_inputs:
            continue  # the same file given twice (as a file and inside a folder)
        seen_inputs.add(source)
        for candidate in _candidate_names(relative, source, extension):
            key = str(candidate).casefold()
            if key not in taken:
                taken.add(key)
                jobs.append(Job(source, output_dir / candidate))
                break
    return jobs


def _candidate_names(relative: Path, source: Path, extension: str):
    """Output names in order of preference, made lazily: almost every photo takes the first."""
    stem = relative.with_suffix("")
    yield stem.with_name(stem.name + extension)
    source_ext = source.suffix.lstrip(".").lower()
    if source_ext:
        yield stem.with_name(f"{stem.name}-{source_ext}{extension}")
    for number in itertools.count(2):
        yield stem.with_name(f"{stem.name}-{number}{extension}")
