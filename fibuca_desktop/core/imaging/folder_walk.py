"""Find the photos in the inputs of a batch, and say why everything else was left out.

Symlinked folders are followed, each real folder once (a link back to an ancestor, or to a folder
already walked, is listed instead of looping). Hidden files and folders, our own cut-outs and
temporary files, and the output folder itself are left out with a reason; an unreadable or empty
folder is listed too, so a batch never ends in a silent "0 processed".
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.output_records import (
    RECORD_NAME,
    is_output_folder,
    is_temporary_name,
    name_key,
    read_records,
)

HIDDEN = "hidden (its name starts with a dot); add it on its own to include it"
TEMPORARY = "an unfinished temporary file of an interrupted run; removed by the next run there"
OUTPUT_FOLDER = "the output folder: it holds cut-outs, which are never processed as photos"
OUR_OUTPUT = "a cut-out made by Fibuca; outputs are never processed as photos"
LEGACY_OUTPUT = (
    "named like Fibuca's output folders (earlier versions wrote cut-outs into 'cutouts' inside "
    "the photo folder); add it on its own to process it"
)


def _looks_like_legacy_output(folder: Path) -> bool:
    """A default output folder of a version without records: ``cutouts`` or ``<name>-cutouts``."""
    name = folder.name.casefold()
    return (name == "cutouts" or name.endswith("-cutouts")) and not is_output_folder(folder)


@dataclass(frozen=True)
class Ignored:
    """A file or folder that was left out, with the reason; listed, never silently dropped."""

    input: Path
    reason: str


def not_added(ignored: list[Ignored], shown: int = 5) -> str:
    """One sentence for a notice: the first few left out, with their reasons."""
    listed = "; ".join(f"{item.input.name} ({item.reason})" for item in ignored[:shown])
    more = f" and {len(ignored) - shown} more" if len(ignored) > shown else ""
    return f"Not added: {listed}{more}."


@dataclass
class Walked:
    pairs: list[tuple[Path, Path]] = field(default_factory=list)  # (input, relative path)
    ignored: list[Ignored] = field(default_factory=list)


def walk_inputs(inputs: list[Path], output_dir: Path, extensions: frozenset[str]) -> Walked:
    """Files and folders (recursive) to (input, path relative to its input folder) pairs.

    Raises UsageError for a missing input or an output folder inside an input folder.
    """
    walked = Walked()
    out = output_dir.resolve()
    for raw in inputs:
        path = Path(os.path.abspath(raw))
        if path.is_dir():
            real = path.resolve()
            if real == out and is_output_folder(real):  # ours: re-added by mistake
                walked.ignored.append(Ignored(path, OUTPUT_FOLDER))
            elif real == out or real in out.parents:
                raise UsageError(
                    f"The output folder {output_dir} is inside the input folder {path}; choose an "
                    "output folder outside it so originals are never mixed with results."
                )
            else:
                _walk_folder(path, out, extensions, walked)
        elif path.is_file():
            reason = _own_file_reason(path)
            if reason:
                walked.ignored.append(Ignored(path, reason))
            else:
                walked.pairs.append((path, Path(path.name)))
        elif os.path.islink(path):
            raise UsageError(f"{raw} is {_broken_link(path)}; check the path.")
        else:
            raise UsageError(f"{raw} does not exist; check the path.")
    return walked


def walk_watched(top: Path, output_dir: Path, extensions: frozenset[str]) -> Walked:
    """The photos in a watched folder, by ``walk_inputs``' rules, except that an output folder
    inside it is allowed (and left out): the watcher mirrors ``top`` into it."""
    walked = Walked()
    _walk_folder(Path(os.path.abspath(top)), output_dir.resolve(), extensions, walked)
    return walked


def _broken_link(link: Path) -> str:
    """Why a symlink leads nowhere: a loop of links, or a target that is missing."""
    try:
        os.stat(link)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"a link that loops back on itself ({link.name} -> {os.readlink(link)} -> ...)"
    return f"a broken link: {os.readlink(link)} does not exist"


def _own_file_reason(path: Path) -> str | None:
    if is_temporary_name(path.name):
        return TEMPORARY
    if path.name == RECORD_NAME or name_key(path.name) in read_records(path.parent):
        return OUR_OUTPUT
    return None


def _walk_folder(top: Path, out: Path, extensions: frozenset[str], walked: Walked) -> None:
    before = (len(walked.pairs), len(walked.ignored))
    visited = {top.resolve()}

    def unreadable(error: OSError) -> None:
        walked.ignored.append(
            Ignored(Path(error.filename or top), f"cannot be read: {error.strerror or error}")
        )

    for root_name, dirs, files in os.walk(top, onerror=unreadable, followlinks=True):
        root = Path(root_name)
        keep = []
        for name in sorted(dirs):
            sub = root / name
            real = sub.resolve()
            if name.startswith("."):
                walked.ignored.append(Ignored(sub, HIDDEN))
            elif real == out:
                walked.ignored.append(Ignored(sub, OUTPUT_FOLDER))
            elif _looks_like_legacy_output(sub):
                walked.ignored.append(Ignored(sub, LEGACY_OUTPUT))
            elif real in visited or real in sub.parents:
                walked.ignored.append(
                    Ignored(sub, f"a link to {real}, which is already included (not walked twice)")
                )
            else:
                visited.add(real)
                keep.append(name)
        dirs[:] = keep
        records = read_records(root) if RECORD_NAME in files else {}
        ours = 0
        for name in sorted(files):
            file = root / name
            if name == RECORD_NAME:
                continue
            if is_temporary_name(name):
                walked.ignored.append(Ignored(file, TEMPORARY))
            elif name.startswith("."):
                walked.ignored.append(Ignored(file, HIDDEN))
            elif name_key(name) in records:
                ours += 1
            elif file.is_symlink() and not file.exists():
                walked.ignored.append(Ignored(file, _broken_link(file)))
            elif file.suffix.lower() in extensions:
                walked.pairs.append((file, file.relative_to(top)))
            else:
                walked.ignored.append(
                    Ignored(file, f"not an image file type ({file.suffix or 'no extension'})")
                )
        if ours:
            walked.ignored.append(
                Ignored(
                    root,
                    f"{ours} cut-out{'s' if ours > 1 else ''} made by Fibuca; "
                    "outputs are never processed as photos",
                )
            )
    if (len(walked.pairs), len(walked.ignored)) == before:
        walked.ignored.append(Ignored(top, "no files in this folder"))
