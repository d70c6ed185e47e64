"""Write a file so that readers see either the old content or the whole new one, never a part."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from fibuca_desktop.core.errors import OutputError

NAME_MAX = 255  # bytes in one file name, on every common filesystem
_PART_NAME_ROOM = NAME_MAX - len(".") - len(".") - 8 - len(".part")  # mkstemp adds 8 characters
_UMASK = os.umask(0)
os.umask(_UMASK)


def shortened(name: str, max_bytes: int) -> str:
    """``name`` cut (at a character) to at most ``max_bytes`` bytes as the filesystem stores it."""
    while len(os.fsencode(name)) > max_bytes:
        name = name[:-1]
    return name


def part_prefix(name: str) -> str:
    """How every temporary file of the output ``name`` begins (``output_records`` finds them)."""
    return f".{shortened(name, _PART_NAME_ROOM)}."


def write_atomically(
    target: Path,
    write: Callable[[BinaryIO], None],
    overwrite: bool,
    check: Callable[[Path, Path], None] | None = None,
) -> bool:
    """Let ``write`` encode into a hidden temporary file beside ``target``, then rename it.

    A reader never sees a partial file. ``check(temporary, target)`` may raise to keep a file
    that would not read back from ever being renamed into place. Returns False (and writes
    nothing) when ``target`` appeared meanwhile and ``overwrite`` is off.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=part_prefix(target.name), suffix=".part"
        )
    except OSError as error:
        raise OutputError(
            f"Cannot write {target.name} to {target.parent}: {error.strerror}. Choose an output "
            "folder you can write to."
        ) from error
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if check is not None:
            check(Path(tmp_name), target)
        with contextlib.suppress(OSError):
            os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp creates 0600
        if not overwrite:
            return _create_exclusively(tmp_name, target)
        os.replace(tmp_name, target)
        return True
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise OutputError(
                f"The disk holding {target.parent} is full; free space and retry."
            ) from error
        raise OutputError(f"Could not write {target}: {error.strerror or error}.") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def _create_exclusively(tmp_name: str, target: Path) -> bool:
    """Put the file at ``target`` only if nothing is there, atomically (a hard link fails on an
    existing name, where a rename would replace what another process wrote a moment ago).
    Where links are unsupported (FAT, some network disks), check, then rename."""
    try:
        os.link(tmp_name, target)
        return True
    except FileExistsError:
        return False
    except OSError as error:
        if error.errno not in (
            errno.EPERM,
            errno.ENOTSUP,
            errno.EOPNOTSUPP,
            errno.EXDEV,
            errno.EMLINK,
        ):
            raise
    if target.exists():
        return False
    os.replace(tmp_name, target)
    return True
