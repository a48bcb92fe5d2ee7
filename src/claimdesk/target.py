"""What a command's PATH names: a desk (a folder holding kb/), or one page of a desk.

Every command that takes PATH reads it here, the same way: no PATH is the current folder or its
nearest parent holding kb/; a folder must be a desk; a file must be a Markdown page under its
desk's kb/ (only `check` and `validate` take one, to scope what they show). Anything else is an
error that says what PATH should be.
"""

from __future__ import annotations

from pathlib import Path

from .kb import find_root
from .problems import DeskError


def desk_or_page(path: Path | None, pages: bool = True) -> tuple[Path | None, str | None]:
    """(the desk's folder, or None for the default; the page's desk-relative path, or None).
    Raises DeskError for a path that is neither (or a page where `pages` is False)."""
    if path is None:
        return None, None
    if not path.exists():
        raise DeskError(f"no such file or folder: {path}")
    if path.is_dir():
        if (path / "kb").is_dir():
            return path, None
        try:
            above = f"; the desk it is in is {find_root(path)}"
        except DeskError:
            above = ""
        raise DeskError(f"no desk found: {path} holds no kb/ folder (a desk is a folder holding kb/ and data/){above}")
    root = find_root(path)
    relative = path.resolve().relative_to(root).as_posix()
    if not (relative.startswith("kb/") and relative.endswith(".md")):
        raise DeskError(f"{path} is neither a desk (a folder holding kb/) nor a page (a .md file under kb/)")
    if not pages:
        raise DeskError(f"{path} is a page; this command takes the desk's folder ({root})")
    return root, relative


def page_path(root: Path, text: str) -> str:
    """`--page`'s value as a desk-relative path: 'kb/x.md' relative to the desk, or any path to
    the file. Raises DeskError when it is not a page of the desk."""
    for candidate in (root / text, Path(text)):
        if candidate.is_file():
            try:
                relative = candidate.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                continue
            if relative.startswith("kb/") and relative.endswith(".md"):
                return relative
    raise DeskError(f"--page {text}: no such page in {root}/kb (write it as kb/page.md)")


def desk_folder_option(ctx: object, param: object, value: Path | None) -> Path | None:
    """A click callback for a PATH (or --desk) that must name a desk's folder: refuses a page, a
    folder without kb/ and anything else as a usage error (exit code 2)."""
    import click

    try:
        return desk_or_page(value, pages=False)[0]
    except DeskError as exc:
        raise click.BadParameter(str(exc.problems[0].message)) from None
