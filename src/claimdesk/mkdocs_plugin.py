"""The MkDocs plugin: a thin adapter between MkDocs and the site renderer (claimdesk.site).

- on_config: finds the desk (the folder holding docs_dir, which must be its kb/), adds the stylesheet.
- on_files: brings the store up to date (unless `check: false`), reads the latest recorded run,
  logs every format error as a warning (so `mkdocs build --strict` fails naming file:line) and adds
  the generated pages and assets as `File.generated` (never written into kb/, which would make
  `mkdocs serve` rebuild forever); a listing's parts after the first are not in the navigation.
- on_page_markdown: renders inline claim references and sets the page's description to its summary.
- on_page_content: places the header, the generated pages' bodies and the claim block's words
  into the finished HTML, which is what the search index sees.
- on_post_page: swaps the full claim block (cards, badges, sources, "How this is computed") in
  for its words: the search index needs the words, not the markup (see site/renderer.py).

Without a store or a run it raises PluginError naming the command to run, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.livereload import LiveReloadServer
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page

from .problems import DeskError
from .site.collect import load_site
from .site.html import ASSETS, esc
from .site.renderer import SiteRenderer

log = logging.getLogger("mkdocs.plugins.claimdesk")


class ClaimdeskConfig(Config):
    check = c.Type(bool, default=True)  # bring the store up to date before each build (false: read it only)
    store = c.Optional(c.Type(str))  # the store file; default: the desk's `store` setting


class ClaimdeskPlugin(BasePlugin[ClaimdeskConfig]):
    supports_multiple_instances = False

    def __init__(self) -> None:
        self.renderer: SiteRenderer | None = None
        self.root: Path | None = None

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        docs = Path(config.docs_dir).resolve()
        if docs.name != "kb" or not (docs.parent / "data").is_dir():
            raise PluginError(f"claimdesk: docs_dir {config.docs_dir} is not a desk's kb/ folder (a folder named kb "
                              f"next to data/); set docs_dir: kb in mkdocs.yml")
        self.root = docs.parent
        css = f"{ASSETS}/claimdesk.css"
        if css not in config.extra_css:
            config.extra_css.append(css)
        return config

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        assert self.root is not None
        try:
            data = load_site(self.root, self.config.store, check=self.config.check)
        except DeskError as exc:
            message = "\n".join(str(p).removeprefix(": ") for p in exc.problems)
            raise PluginError(f"claimdesk: {message}") from None
        for problem in data.errors:
            log.warning(str(problem))
        self.renderer = SiteRenderer(data, config.use_directory_urls)
        generated: dict[str, str | bytes] = dict(self.renderer.generated_pages())
        generated.update(self.renderer.assets())
        out_of_nav = set(self.renderer.out_of_nav())
        for path, content in generated.items():
            if files.get_file_from_path(path) is not None:
                raise PluginError(f"claimdesk: kb/{path} is in the way of the page or asset claimdesk generates "
                                  f"there; rename it")
            inclusion = InclusionLevel.NOT_IN_NAV if path in out_of_nav else InclusionLevel.UNDEFINED
            files.append(File.generated(config, path, content=content, inclusion=inclusion))
        log.info(f"claimdesk: statuses from check run {data.run.run_id}"
                 f"{' (brought up to date)' if data.checked else ' (read only)'}")
        return files

    def on_page_markdown(self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        assert self.renderer is not None
        # mkdocs-material puts meta.title and meta.description into the page unescaped.
        for key in ("title", "description"):
            if isinstance(page.meta.get(key), str):
                page.meta[key] = esc(page.meta[key])
        summary = self.renderer.description(page.file.src_uri)
        if summary and not page.meta.get("description"):
            page.meta["description"] = esc(summary)
        return self.renderer.markdown(page.file.src_uri, markdown)

    def on_page_content(self, html: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        assert self.renderer is not None
        return self.renderer.fill_html(page.file.src_uri, html, for_search=True)

    def on_post_page(self, output: str, /, *, page: Page, config: MkDocsConfig) -> str:
        assert self.renderer is not None
        return self.renderer.finish(page.file.src_uri, output)

    def on_serve(self, server: LiveReloadServer, /, *, config: MkDocsConfig, builder: Callable[..., Any]
                 ) -> LiveReloadServer:
        """Rebuild when the sources, the model or the settings change too (kb/ is watched already).
        Only those files: the store lives in data/ and is written by every build."""
        assert self.root is not None
        for name in ("data/sources.yaml", "data/desk.yaml", "data/models"):
            if (self.root / name).exists():
                server.watch(str(self.root / name))
        return server

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        self.renderer = None  # the desk and run are read again on the next build (mkdocs serve)


__all__ = ["ClaimdeskPlugin", "ClaimdeskConfig"]
