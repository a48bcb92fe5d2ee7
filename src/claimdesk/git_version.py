"""The desk's git version (`<commit>` or `<commit>-dirty`), read without letting git run anything.

A desk is a repository built from contributors' pull requests, and its `.git/config` is not ours:
`core.fsmonitor`, a clean or process filter, hooks or a transport can each name a command that a
plain `git status` runs. So claimdesk never asks git to look at the working tree. It asks git
only to read what is stored (`rev-parse`, `ls-files`, `ls-tree`: refs, the index and tree
objects, none of which runs a configured command), with every setting that could start a program
overridden on the command line, and compares the files itself: an indexed file whose size and
mtime are those the index recorded is taken as unchanged (git's own rule), any other is hashed
as git would hash it. Untracked files count as changes unless `.gitignore` excludes them; the
store's own files never do.

This module only reads; it never writes to the repository (GIT_OPTIONAL_LOCKS=0 keeps git from
refreshing the index).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from pathlib import Path

WATCHED = ("kb", "data")  # the folders whose changes make a desk '-dirty'
GIT_TIMEOUT_SECONDS = 30
# Settings that could make git start a program, each turned off for claimdesk's calls.
SAFE_SETTINGS = (
    "core.fsmonitor=false", "core.hooksPath=/dev/null", "core.untrackedCache=false", "core.sshCommand=false",
    "core.pager=cat", "core.askPass=false", "credential.helper=", "diff.external=", "protocol.allow=never",
    *(f"protocol.{scheme}.allow=never" for scheme in ("ext", "file", "git", "http", "https", "ssh")),
)
SAFE_ENVIRONMENT = {
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_NO_LAZY_FETCH": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0",
    "GIT_ASKPASS": "false", "SSH_ASKPASS": "false", "GIT_EXTERNAL_DIFF": "", "GIT_PAGER": "cat",
}
_STORE_FILE = re.compile(r"\.duckdb(\.wal|\.lock)?$")
_INDEX_ENTRY = re.compile(rb"(\d+) ([0-9a-f]+) (\d)\t([^\0]*)\0  ctime: [^\n]*\n  mtime: (\d+):(\d+)\n"
                          rb"[^\n]*\n[^\n]*\n  size: (\d+)\t[^\n]*\n")


def desk_version(root: Path) -> str | None:
    """The desk's git commit, with '-dirty' when kb/ or data/ differ from it; None outside git
    (or when git is missing, refuses the repository, or takes too long)."""
    try:
        head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        if head is None:
            return None
        commit = head.decode("ascii", "replace").strip()
        index = _git(root, "ls-files", "--stage", "--debug", "-z", "--", *WATCHED)
        tree = _git(root, "ls-tree", "-r", "-z", "--full-tree", commit, "--", *WATCHED)
        untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", *WATCHED)
    except (OSError, subprocess.SubprocessError):
        return None
    if index is None or tree is None or untracked is None:
        return None
    return f"{commit}-dirty" if _dirty(root, index, tree, untracked) else commit


def _git(root: Path, *args: str) -> bytes | None:
    settings = [part for setting in SAFE_SETTINGS for part in ("-c", setting)]
    done = subprocess.run(["git", "--no-pager", "-C", str(root), *settings, *args], capture_output=True,
                          timeout=GIT_TIMEOUT_SECONDS, env={**os.environ, **SAFE_ENVIRONMENT}, stdin=subprocess.DEVNULL)
    return done.stdout if done.returncode == 0 else None


def _dirty(root: Path, index: bytes, tree: bytes, untracked: bytes) -> bool:
    committed = {}
    for entry in filter(None, tree.split(b"\0")):
        meta, _, path = entry.partition(b"\t")
        committed[path] = meta.split()[-1]
    indexed = {}
    for match in _INDEX_ENTRY.finditer(index):
        mode, blob, stage, path, seconds, nanos, size = match.groups()
        if stage != b"0":
            return True  # an unresolved merge
        indexed[path] = blob
        if not _same_file(root / os.fsdecode(path), mode, blob, int(seconds), int(nanos), int(size)):
            return True
    if indexed != committed:
        return True  # staged but not committed
    return any(not _STORE_FILE.search(os.fsdecode(path)) for path in untracked.split(b"\0") if path)


def _same_file(path: Path, mode: bytes, blob: bytes, seconds: int, nanos: int, size: int) -> bool:
    try:
        st = path.lstat()
        if mode == b"120000":  # a link: git stores where it points
            content = os.fsencode(os.readlink(path))
        else:
            if not stat.S_ISREG(st.st_mode):
                return False  # a folder, pipe or link where git has a file: changed (and never read)
            if (st.st_size, st.st_mtime_ns // 1_000_000_000, st.st_mtime_ns % 1_000_000_000) == (size, seconds, nanos):
                return True
            with open(path, "rb", buffering=0) as handle:
                content = handle.read()
    except OSError:
        return False
    digest = hashlib.new("sha256" if len(blob) == 64 else "sha1", b"blob %d\0" % len(content) + content)
    return digest.hexdigest().encode() == blob
