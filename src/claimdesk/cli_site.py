"""`claimdesk site`: the published wiki as a plain docs folder (site/stage.py does the work)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli import DESK_ARG, clean_errors

DEFAULT_STAGE = "build/site-stage"
BUILDERS = ("zensical", "mkdocs")


@click.command("site")
@DESK_ARG
@click.option("--stage", "stage_dir", type=click.Path(path_type=Path), default=None,
              help=f"Folder to write (default: {DEFAULT_STAGE} in the desk).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Bring the store up to date first (--no-check: read the latest recorded run only).")
@click.option("--store", "store_file", type=click.Path(path_type=Path), default=None, help="The store file.")
@click.option("--for", "builder", type=click.Choice(BUILDERS), default="zensical", show_default=True,
              help="The builder the folder is for: links in the pages' HTML are written as it reads them.")
@clean_errors
def site(path: Path | None, stage_dir: Path | None, check: bool, store_file: Path | None, builder: str) -> None:
    """Write the site as a plain docs folder that builds without the claimdesk plugin.

    Every page gets its claims rendered in place, the generated pages (Claims, Sources, Bull vs
    bear, Metrics, The model) are written as files, with the assets and a mkdocs.yml pointing at
    them. Build it with `zensical build -f DIR/mkdocs.yml`; with --for mkdocs, with
    `mkdocs build -f DIR/mkdocs.yml`.

    Example: claimdesk site --stage build/site-stage
    """
    from .kb import find_root
    from .site.stage import stage_site

    folder = stage_dir if stage_dir is not None else find_root(path) / DEFAULT_STAGE
    staged = stage_site(path, folder, check=check, store_file=store_file, builder=builder)
    click.echo(f"staged {staged.pages} pages, {staged.generated} generated pages and {staged.assets} assets in "
               f"{staged.folder} (statuses from check run {staged.run_id}); build with: "
               f"{builder} build -f {staged.folder}/mkdocs.yml")


def register(main: click.Group) -> None:
    main.add_command(site)
