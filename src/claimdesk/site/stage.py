"""The staged folder: the site as a plain docs folder that builds without the claimdesk plugin.

`claimdesk site --stage DIR` writes DIR/docs (every page with its claims already rendered as HTML
blocks in its Markdown, the generated pages as files, the assets) and DIR/mkdocs.yml (the desk's
configuration with docs_dir pointing there, the claimdesk plugin removed, and the listings' parts
after the first under not_in_nav, as the plugin keeps them out of the navigation). `zensical build`
(which reads mkdocs.yml but runs no third-party plugin) turns it into the same site as the plugin
does; so does `mkdocs build` of a folder staged `--for mkdocs`. The two differ in one thing: Zensical
reads every relative link in a page's HTML as relative to the page's docs file and rewrites it for
the page's URL, MkDocs leaves HTML alone (see html.Links).

A staged page keeps only the front-matter a site needs (title, description from the summary, tags),
written as JSON strings; the claims stay in kb/. Every file is written atomically. DIR is replaced
only when claimdesk wrote it before (it holds STAMP), so a mistyped --stage cannot wipe a folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..atomic import write_atomic
from ..frontmatter import split_front_matter
from ..kb import find_root, read_file
from ..problems import DeskError, Problem
from .collect import KB, load_site
from .html import ASSETS, esc
from .refs import body_of
from .renderer import SiteRenderer

STAMP = ".claimdesk-stage"
CONFIG = "mkdocs.yml"


@dataclass
class Staged:
    folder: Path
    pages: int
    generated: int
    assets: int
    run_id: int


class _Tagged:
    """A YAML value with a tag claimdesk does not interpret (!ENV, !!python/name:...), kept as written."""

    def __init__(self, tag: str, value: Any):
        self.tag, self.value = tag, value


class _ConfigLoader(yaml.SafeLoader):
    pass


class _ConfigDumper(yaml.SafeDumper):
    pass


def _keep_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tagged:
    if isinstance(node, yaml.SequenceNode):
        return _Tagged(node.tag, loader.construct_sequence(node, deep=True))
    if isinstance(node, yaml.MappingNode):
        return _Tagged(node.tag, loader.construct_mapping(node, deep=True))
    return _Tagged(node.tag, loader.construct_scalar(node))  # type: ignore[arg-type]


def _emit_tag(dumper: yaml.SafeDumper, tagged: _Tagged) -> yaml.Node:
    if isinstance(tagged.value, list):
        return dumper.represent_sequence(tagged.tag, tagged.value)
    if isinstance(tagged.value, dict):
        return dumper.represent_mapping(tagged.tag, tagged.value)
    return dumper.represent_scalar(tagged.tag, tagged.value)


class _Lines(str):
    """A string written as a YAML literal block, one item a line (not_in_nav's patterns)."""


def _emit_lines(dumper: yaml.SafeDumper, lines: _Lines) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(lines), style="|")


_ConfigLoader.add_multi_constructor("!", _keep_tag)
_ConfigLoader.add_multi_constructor("tag:yaml.org,2002:python/", _keep_tag)
_ConfigDumper.add_representer(_Tagged, _emit_tag)
_ConfigDumper.add_representer(_Lines, _emit_lines)


def staged_config(config_text: str, site_dir: str = "site", out_of_nav: Iterable[str] = ()) -> str:
    """The desk's mkdocs.yml for the staged folder: docs_dir docs, no claimdesk plugin, its stylesheet,
    and `out_of_nav` (docs paths: a listing's parts after the first) added to `not_in_nav`, which
    mkdocs and zensical leave out of a navigation they make themselves."""
    # mkdocs.yml is contributor text like any page. _ConfigLoader is yaml.SafeLoader (no Python
    # object is ever built) whose only additions keep a tag MkDocs configs use (`!ENV`,
    # `!!python/name:...`) as inert data, so the staged copy can write it back unchanged; the
    # text was read through kb.read_file, which bounds its size.
    try:
        config = yaml.load(config_text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass, see above
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{CONFIG}:{mark.line + 1}" if mark is not None else CONFIG
        raise DeskError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or 'cannot be read'}); "
                        "mkdocs build would stop on it too") from None
    if not isinstance(config, dict):
        raise DeskError(f"{CONFIG}: not a mapping of settings")
    config["docs_dir"] = "docs"
    config["site_dir"] = site_dir
    plugins = config.get("plugins")
    if isinstance(plugins, list):
        kept = [p for p in plugins if p != "claimdesk" and not (isinstance(p, dict) and "claimdesk" in p)]
        config["plugins"] = kept
    elif isinstance(plugins, dict):
        config["plugins"] = {k: v for k, v in plugins.items() if k != "claimdesk"}
    css = list(config.get("extra_css") or [])
    if f"{ASSETS}/claimdesk.css" not in css:
        css.append(f"{ASSETS}/claimdesk.css")
    config["extra_css"] = css
    unlisted = [f"/{path}" for path in out_of_nav]
    own = config.get("not_in_nav")
    if unlisted and (own is None or isinstance(own, str)):  # anything else (a !ENV tag) is kept as written
        config["not_in_nav"] = _Lines("\n".join([*([own.rstrip("\n")] if own and own.strip() else []),
                                                 *unlisted]) + "\n")
    header = "# Written by `claimdesk site --stage`: the desk's mkdocs.yml for this staged folder. Do not edit.\n"
    return header + yaml.dump(config, Dumper=_ConfigDumper, sort_keys=False, allow_unicode=True)


def _front_matter(renderer: SiteRenderer, path: str) -> str:
    record = renderer.data.pages.get(path)
    if record is None or record.page is None:
        return ""
    page = record.page
    # Escaped for HTML: mkdocs-material and zensical put meta.title and meta.description in the page as is.
    lines = [f"title: {json.dumps(esc(page.title), ensure_ascii=False)}"]
    if page.summary:
        lines.append(f"description: {json.dumps(esc(page.summary), ensure_ascii=False)}")
    if page.tags:
        lines.append(f"tags: {json.dumps(list(page.tags))}")
    return "---\n" + "\n".join(lines) + "\n---\n\n"


def _prepare(folder: Path) -> None:
    if folder.exists():
        if not folder.is_dir():
            raise DeskError(f"{folder} is a file; give --stage a folder")
        if any(folder.iterdir()) and not (folder / STAMP).exists():
            raise DeskError(f"{folder} is not empty and was not written by `claimdesk site`; give --stage a new or "
                            f"empty folder")
        for name in ("docs", CONFIG):
            target = folder / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / STAMP, b"written by claimdesk site --stage\n")


def stage_site(desk: Path | str | None, folder: Path | str, *, check: bool = True,
               store_file: Path | str | None = None, builder: str = "zensical") -> Staged:
    """Write the staged folder for `builder` (zensical: links in the pages' HTML point to docs files,
    which it turns into URLs; mkdocs: they are URLs already, as the plugin writes them). Raises
    DeskError when a page does not validate (naming file:line)."""
    root = find_root(desk)
    raw, problem = read_file(root / CONFIG, CONFIG)  # a regular file within the size bound, never a pipe
    if raw is None:
        raise DeskError(f"{root / CONFIG}: {problem.message if problem else 'cannot be read'}; the staged folder "
                        "copies the desk's mkdocs.yml settings")
    config_text = raw.decode("utf-8", errors="replace")
    staged_config(config_text)  # read before anything is written: it may not read
    data = load_site(root, store_file, check=check)
    if data.errors:
        raise DeskError([*data.errors, Problem("", 0, "", "fix these (claimdesk validate lists them) and stage again")])
    out = Path(folder).absolute()
    _prepare(out)
    docs = out / "docs"
    kb_folder = root / "kb"
    renderer = SiteRenderer(data, directory_urls=True, file_links=builder == "zensical")
    pages = 0
    inside = kb_folder.resolve()
    for source in sorted(kb_folder.rglob("*")):
        if not source.is_file() or any(part.startswith(".") for part in source.relative_to(kb_folder).parts):
            continue
        if not source.resolve().is_relative_to(inside):
            continue  # a link out of kb/ is not published
        docs_path = source.relative_to(kb_folder).as_posix()
        if docs_path.endswith(".md"):
            text = source.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
            split = split_front_matter(text)
            markdown = body_of(text, split.body_line) if split.yaml_text is not None else text
            staged = renderer.fill_markdown(docs_path, renderer.markdown(docs_path, markdown))
            write_atomic(docs / docs_path, (_front_matter(renderer, KB + docs_path) + staged).encode())
            pages += 1
        else:
            write_atomic(docs / docs_path, source.read_bytes())
    generated = renderer.generated_pages()
    for docs_path, markdown in generated.items():
        write_atomic(docs / docs_path, renderer.fill_markdown(docs_path, markdown).encode())
    assets = renderer.assets()
    for site_path, content in assets.items():
        write_atomic(docs / site_path, content)
    config = staged_config(config_text, out_of_nav=renderer.out_of_nav())
    write_atomic(out / CONFIG, config.encode())
    return Staged(out, pages, len(generated), len(assets), data.run.run_id)
