"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file claimdesk writes outside the store (pages, sources, mkdocs.yml, report files, the staged
site) goes through here: the bytes go to a hidden temporary file in the target's own folder (a
dot-name, so the desk's walker never reads it as a page), are fsynced, take their final mode, and
the file is renamed over the target, which replaces a link at the target rather than writing
through it. Page edits also fsync the folder (`fsync_folder`) so the rename itself survives a
power cut; build artefacts (reports, the staged site) are written again by the next run and skip
that, which keeps a 10,000-page staging fast. This module only writes; checks
that a write is still wanted (a page unchanged on disk, a folder that is not a link) are the
caller's.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


DEFAULT_MODE = 0o666 & ~_umask()  # what an ordinary write would leave (mkstemp makes files 0600)


def temp_file(folder: Path, name: str, content: bytes, mode: int) -> str:
    """A hidden temporary file in `folder` holding `content`, fsynced, with `mode`; its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(target: Path, content: bytes, mode: int | None = None) -> None:
    """Write `content` to `target` (its folder created if need be) through a temporary file and a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file(target.parent, target.name, content, DEFAULT_MODE if mode is None else mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
