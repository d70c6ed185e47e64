"""Plan a batch: which files to process and the one output path each gets.

``BatchPlan`` owns every output name of a queue, across all its adds, preset changes and re-runs;
the CLI (one add) and the Process tab (many) use it alike. Rules:

- folders are walked recursively (symlinked folders too, each real folder once) and mirrored
  under the output folder; nothing is ever written into or beside an input folder;
- two inputs never share an output name (case-insensitive, as on Windows and macOS), whether
  the other one is in the queue or already on disk: a file on disk is only ever "the same
  output" again when our record says it was made from the same input (``output_records``);
- the extension follows the preset; ``retarget`` re-plans queued jobs when the preset changes;
- a name template (``Naming``: ``--name``, the File name option) makes the first candidate's
  stem; a clash goes on to ``-2``, ``-3``... ``{n}`` is the photo's place in plan order across
  all adds, kept by its re-plans and re-runs;
- what is left out is listed with a reason (not an image, hidden, our own output, a loop),
  never dropped silently.
"""

from __future__ import annotations

import functools
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.folder_walk import Ignored, walk_inputs
from fibuca_desktop.core.imaging.name_template import NameTemplate
from fibuca_desktop.core.imaging.output_naming import (
    Headers,
    Naming,
    candidate_names,
    fitted_name,
)
from fibuca_desktop.core.imaging.output_records import name_key, read_records
from fibuca_desktop.core.imaging.presets import Preset

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".mpo"}
    | {".apng"}
)


@dataclass(frozen=True)
class Job:
    input: Path  # absolute
    output: Path  # absolute


@dataclass(frozen=True)
class _Entry:
    job: Job
    root: Path  # the output folder it was planned into
    relative: Path  # the input's path under its input folder (mirrored under root)
    origin: Path  # the output folder of the add it came from (Run again: siblings of this one)
    wanted: str | None  # the stem the naming asked for; None: the input's own (no template)


@dataclass
class Added:
    """What one ``add`` contributed."""

    jobs: list[Job] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)


class BatchPlan:
    """Every output name of one queue. Not thread-safe: use it from one thread (the GUI's)."""

    def __init__(self, extension: str, naming: Naming | None = None) -> None:
        self.extension, self.naming = extension, naming
        self.ignored: list[Ignored] = []
        self._numbers: dict[Path, int] = {}  # input -> its {n}: the order it was first planned
        self._headers = Headers()
        self._entries: dict[str, _Entry] = {}  # _key(output) -> entry, in plan order
        self._folders: dict[str, Path] = {}  # _key(folder) -> the folder, for every mirrored one

    @property
    def jobs(self) -> list[Job]:
        return [entry.job for entry in self._entries.values()]

    def root_of(self, job: Job) -> Path:
        return self._entries[_key(job.output)].root

    def add(self, inputs: list[Path], output_dir: Path) -> Added:
        """Plan inputs into ``output_dir``. Raises UsageError for a missing input or an unsafe
        output folder (then nothing is added)."""
        output_dir = Path(os.path.abspath(output_dir))
        _check_output_folder(output_dir)
        walked = walk_inputs(inputs, output_dir, IMAGE_EXTENSIONS)
        source_dirs = {source.parent.resolve() for source, _ in walked.pairs}
        for _, relative in walked.pairs:
            folder = output_dir / relative.parent
            if folder.resolve() in source_dirs:
                raise UsageError(
                    f"Outputs would be written next to the originals in {folder}; choose a "
                    "separate output folder."
                )
        added = Added(ignored=walked.ignored)
        planned = {(e.job.input, e.root) for e in self._entries.values()}
        disk = _DiskNames()
        fresh = []
        for source, relative in walked.pairs:
            if (source, output_dir) not in planned:  # the same file given twice (as a file and
                planned.add((source, output_dir))  # inside a folder, or re-added): queued once
                fresh.append((source, relative))
        wanted = self._wanted(fresh, self.naming)  # raises before anything is planned
        folders = self._plan_folders(output_dir, [relative for _, relative in fresh], disk)
        for (source, relative), stem in zip(fresh, wanted, strict=True):
            relative = folders[relative.parent] / relative.name
            added.jobs.append(self._assign(source, relative, output_dir, disk, stem=stem))
        self.ignored.extend(added.ignored)
        return added

    def add_file(self, source: Path, relative: Path, output_dir: Path) -> Job:
        """Plan one photo a watcher found at ``relative`` under its watched folder (mirrored
        under ``output_dir``, which was checked with ``add``). The same photo again (its content
        changed) gets the job it already has: it is redone into the same output name."""
        output_dir = Path(os.path.abspath(output_dir))
        for entry in self._entries.values():
            if entry.job.input == source and entry.root == output_dir:
                return entry.job
        disk = _DiskNames()
        folders = self._plan_folders(output_dir, [relative], disk)
        return self._assign(source, folders[relative.parent] / relative.name, output_dir, disk)

    def again_into_siblings(self, jobs: list[Job], suffix: str) -> list[Job]:
        """Plan the photos of ``jobs`` again, each once, into a sibling of the output folder it
        was first added to, named ``<folder>-suffix`` (``shoot-cutouts`` -> ``shoot-cutouts-web``),
        with the current extension. A photo this queue already holds in that sibling (Run again
        twice with one preset; a Run-again result among ``jobs``) is not planned a second time.
        Raises UsageError, planning nothing, when the naming makes no name for one of them."""
        disk = _DiskNames()
        done = {(e.job.input, e.root) for e in self._entries.values()}
        by_root: dict[Path, list[_Entry]] = {}
        for entry in (self._entries[_key(job.output)] for job in jobs):
            root = entry.origin.with_name(fitted_name(entry.origin.name, f"-{suffix}"))
            if (entry.job.input, root) not in done:
                done.add((entry.job.input, root))
                by_root.setdefault(root, []).append(entry)
        entries = [e for group in by_root.values() for e in group]
        wanted = dict(zip(entries, self._wanted(_sources(entries), self.naming), strict=True))
        folders = {
            root: self._plan_folders(root, [e.relative for e in group], disk)
            for root, group in by_root.items()
        }
        return [
            self._assign(
                e.job.input,
                folders[root][e.relative.parent] / e.relative.name,
                root,
                disk,
                e.origin,
                wanted[e],
            )
            for root, group in by_root.items()
            for e in group
        ]

    def retarget(
        self, jobs: list[Job], extension: str, naming: Naming | None = None
    ) -> dict[Job, Job]:
        """Use ``extension`` and ``naming`` (None: the inputs' own names) from now on and re-plan
        those of ``jobs`` (about to run) whose output has another extension, or another stem
        than the naming now makes (a template with {preset}, {profile}, {width} or {height}
        follows a preset change, any template a change of template); returns old -> new for
        every job whose output changed. A job that was not queued at an earlier change (failed,
        then retried) is re-planned when it is queued again: it is the job's own name that
        counts, not the plan's last one. Raises UsageError, changing nothing, when the naming
        makes no name for one of ``jobs``."""
        known = [e for e in (self._entries.get(_key(j.output)) for j in jobs) if e]
        wanted = self._wanted(_sources(known), naming)
        self.extension, self.naming = extension, naming
        stale = [
            (entry, stem)
            for entry, stem in zip(known, wanted, strict=True)
            if _fold(entry.job.output.suffix) != _fold(extension) or stem != entry.wanted
        ]
        for entry, _ in stale:
            self._entries.pop(_key(entry.job.output), None)
        disk = _DiskNames()
        changed = {}
        for entry, stem in stale:
            new = self._assign(
                entry.job.input, entry.relative, entry.root, disk, entry.origin, stem
            )
            if new != entry.job:
                changed[entry.job] = new
        return changed

    def release(self, jobs: list[Job]) -> None:
        """Forget jobs removed from the queue (their outputs on disk still count, by record)."""
        for job in jobs:
            self._entries.pop(_key(job.output), None)

    def _wanted(self, sources: list[tuple[Path, Path]], naming: Naming | None) -> list[str | None]:
        """The stem ``naming`` makes for each (input, relative path), in order; numbers new
        inputs on from the last. Raises UsageError before any number is kept."""
        if naming is None:
            return [None] * len(sources)
        numbers = dict(self._numbers)
        stems = []
        for source, relative in sources:
            n = numbers.setdefault(source, len(numbers) + 1)
            header = self._headers.of(source) if naming.reads_sizes else None
            stems.append(naming.stem(relative, n, header))
        self._numbers = numbers
        return stems

    def _plan_folders(
        self, root: Path, relatives: list[Path], disk: _DiskNames
    ) -> dict[Path, Path]:
        """Each input subfolder -> the folder it is mirrored as under ``root``. Planned before
        the files, so a folder keeps its name and a file named like it (``a.png`` beside a
        folder ``a.png``) yields; a folder whose name is taken by a file (planned, or on disk)
        becomes ``name-2``, ``name-3``... Every file of one input folder goes to one folder."""
        mapped: dict[Path, Path] = {Path(): Path()}
        for parent in sorted({relative.parent for relative in relatives}, key=lambda p: p.parts):
            chain = Path()
            for depth, part in enumerate(parent.parts, 1):
                prefix = Path(*parent.parts[:depth])
                if prefix not in mapped:
                    mapped[prefix] = self._folder(root, mapped[prefix.parent], part, disk)
                chain = mapped[prefix]
            mapped[parent] = chain
        return mapped

    def _folder(self, root: Path, parent: Path, name: str, disk: _DiskNames) -> Path:
        numbered = (fitted_name(name, f"-{n}") for n in itertools.count(2))
        for candidate in itertools.chain([name], numbered):
            folder = root / parent / candidate
            key = _key(folder)
            if key in self._folders:  # planned already (perhaps spelled in another case)
                return parent / self._folders[key].name
            on_disk = disk.same_file(folder)
            if key in self._entries or (on_disk is not None and not on_disk.is_dir()):
                continue  # a file (ours, queued or made, or the user's) holds this name
            self._folders[key] = folder
            return parent / candidate
        raise AssertionError("unreachable: the candidate names never run out")

    def _assign(
        self,
        source: Path,
        relative: Path,
        root: Path,
        disk: _DiskNames,
        origin: Path | None = None,
        stem: str | None = None,
    ) -> Job:
        for candidate in candidate_names(relative, source, self.extension, stem):
            output = root / candidate
            if _key(output) in self._entries or _key(output) in self._folders:
                continue  # another photo's output, or a folder of this queue
            on_disk = disk.same_file(output)
            if on_disk is not None:
                if disk.made_from(on_disk) != source:
                    continue  # another photo's cut-out, or not ours at all: never touch it
                output = on_disk  # this photo's own earlier output: skipped or replaced later
            job = Job(source, output)
            self._entries[_key(output)] = _Entry(job, root, relative, origin or root, stem)
            return job
        raise AssertionError("unreachable: the candidate names never run out")


def plan_batch(
    inputs: list[Path],
    output_dir: Path,
    extension: str,
    template: NameTemplate | None = None,
    preset: Preset | None = None,
    profile: str = "",
) -> BatchPlan:
    """One add into a fresh plan (the CLI's run), named by ``template`` (rendered for ``preset``
    and ``profile``; None: the inputs' own names). Raises UsageError like ``BatchPlan.add``."""
    if template is not None and preset is None:
        raise TypeError("a name template is rendered for a preset: give preset=")
    plan = BatchPlan(extension, Naming(template, preset, profile) if template else None)
    plan.add(inputs, output_dir)
    return plan


def default_output_folder(first_input: Path) -> Path:
    """Beside the input, never inside the photo folder: the folder ``shoes`` and a photo
    ``shoes/item.jpg`` both go to ``shoes-cutouts`` next to ``shoes``."""
    folder = first_input if first_input.is_dir() else first_input.parent
    folder = Path(os.path.abspath(folder))
    if folder.parent == folder:  # a filesystem root has no "beside"
        return folder / "fibuca-cutouts"
    return folder.parent / fitted_name(folder.name, "-cutouts")


def _key(path: Path) -> str:
    """One key for every spelling of an output path: the real folder (links resolved), the name
    ignoring case and Unicode normalisation (as on Windows and macOS disks)."""
    return _fold(str(_real_folder(path.parent) / path.name))


_fold = name_key  # whole paths fold the same way


@functools.lru_cache(maxsize=4096)
def _real_folder(folder: Path) -> Path:
    return folder.resolve()


def _check_output_folder(output_dir: Path) -> None:
    existing = next(folder for folder in (output_dir, *output_dir.parents) if folder.exists())
    if not existing.is_dir():  # else every photo would fail alike with "File exists"
        raise UsageError(
            f"The output folder {output_dir} cannot be created: {existing} is a file, not a "
            "folder; choose another output folder."
        )
    if not os.access(existing, os.W_OK | os.X_OK):  # else every photo's model runs, then fails
        why = "is on a read-only disk" if _read_only(existing) else "is not writable for you"
        raise UsageError(f"{existing} {why}; choose an output folder you can write to.")


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # Windows has no statvfs
        return False


class _DiskNames:
    """Names already on disk, per folder, case-insensitively; listed once per planning step."""

    def __init__(self) -> None:
        self._names: dict[Path, dict[str, str]] = {}
        self._records: dict[Path, dict] = {}

    def same_file(self, path: Path) -> Path | None:
        """The existing file that ``path`` would clash with (same name ignoring case), if any."""
        folder = path.parent
        if folder not in self._names:
            try:
                self._names[folder] = {_fold(name): name for name in os.listdir(folder)}
            except OSError:
                self._names[folder] = {}
        name = self._names[folder].get(_fold(path.name))
        return folder / name if name is not None else None

    def made_from(self, output: Path) -> Path | None:
        folder = output.parent
        if folder not in self._records:
            self._records[folder] = read_records(folder)
        return self._records[folder].get(_fold(output.name))


def _sources(entries: list[_Entry]) -> list[tuple[Path, Path]]:
    return [(entry.job.input, entry.relative) for entry in entries]
