"""Check the built HTML book: internal links, anchors, and resources from outside the book.

Usage: ``python scripts/check_book.py [BUILD_HTML_DIR] [--list-external]``
(default ``_build/html``). Reads the built files only; fetches nothing.

It reports, and exits 1 on:

- a link (``<a href>``) to a local file that does not exist, or to an ``#anchor`` that the
  target page does not define;
- a resource the browser loads to render a page (``<script src>``, ``<link href>``,
  ``<img src>``, ``<iframe src>``, ``<source src>`` ...) that is not inside the book;
- a ``url(...)`` or ``@import`` in a built CSS file that points outside the book (web fonts
  from a CDN, for example).

Links to other sites (``<a href="https://...">``: the repository, the launch buttons, DOIs) are
allowed: a reader follows them, the page does not need them. ``--list-external`` prints them.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

#: Attributes through which a page loads something while it renders, per tag.
RESOURCE_ATTRS = {"script": "src", "link": "href", "img": "src", "iframe": "src",
                  "source": "src", "video": "src", "audio": "src", "embed": "src",
                  "object": "data", "track": "src", "input": "src"}
#: ``<link rel=...>`` values that are not resources (nothing is fetched to render the page).
NON_RESOURCE_RELS = {"canonical", "alternate", "author", "help", "license", "next", "prev",
                     "search", "index", "top", "up", "first", "last", "bookmark"}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


@dataclass
class Page:
    """What one HTML file defines and refers to."""

    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    resources: list[tuple[str, str]] = field(default_factory=list)  # (tag, url)


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.page = Page()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.page.ids.add(a[key])
        if tag == "a" and a.get("href") is not None:
            self.page.links.append(a["href"])
        attr = RESOURCE_ATTRS.get(tag)
        if attr and a.get(attr):
            if tag == "link" and set((a.get("rel") or "").lower().split()) & NON_RESOURCE_RELS:
                return
            self.page.resources.append((tag, a[attr]))
        if tag in ("img", "source") and a.get("srcset"):
            for part in a["srcset"].split(","):
                if part.strip():
                    self.page.resources.append((tag, part.split()[0]))


@cache
def parse(path: Path) -> Page:
    """The ids, links and resources of one HTML file."""
    parser = _Parser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.page


def is_external(url: str) -> bool:
    """Whether ``url`` points outside the book (``data:`` and ``blob:`` URLs are inside)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "javascript", "mailto", "tel"):
        return False
    if parts.scheme in ("http", "https") or url.startswith("//"):
        return (parts.hostname or "") not in LOCAL_HOSTS
    return bool(parts.scheme)


def resolve(root: Path, page: Path, url: str) -> tuple[Path | None, str]:
    """The local file ``url`` refers to from ``page`` (``None`` if it is not a local file
    reference) and its fragment. Absolute paths (``/x.html``) are relative to ``root``."""
    parts = urlsplit(url)
    if parts.scheme or url.startswith("//"):
        if parts.scheme in ("http", "https") and (parts.hostname or "") in LOCAL_HOSTS:
            target = root / unquote(parts.path).lstrip("/")
        else:
            return None, ""
    elif not parts.path:
        target = page
    elif parts.path.startswith("/"):
        target = root / unquote(parts.path).lstrip("/")
    else:
        target = page.parent / unquote(parts.path)
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def check_link(root: Path, page: Path, href: str) -> str | None:
    """A problem with one ``<a href>`` of ``page``, or ``None`` if the link is fine."""
    if href in ("", "#") or is_external(href):
        return None
    target, fragment = resolve(root, page, href)
    if target is None:
        return None
    if not target.is_file():
        shown = target.relative_to(root) if _inside(root, target) else target
        return f"{href}: no such file {shown}"
    if fragment and target.suffix == ".html" and fragment not in parse(target).ids:
        return f"{href}: {target.name} has no anchor #{fragment}"
    return None


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def check_resource(root: Path, page: Path, tag: str, url: str) -> str | None:
    """A problem with a resource ``page`` loads: outside the book, or missing."""
    if is_external(url):
        return f"<{tag}> loads {url} from outside the book"
    target, _ = resolve(root, page, urldefrag(url)[0])
    if target is not None and not urlsplit(url).scheme and not target.is_file():
        return f"<{tag}> {url}: no such file"
    return None


def check_css(root: Path, css: Path) -> list[str]:
    """``url(...)``/``@import`` in a CSS file that point outside the book."""
    text = css.read_text(encoding="utf-8", errors="replace")
    out = []
    for m in CSS_URL.finditer(text):
        url = (m.group(1) or m.group(2)).strip()
        if is_external(url):
            out.append(f"{css.relative_to(root)}: loads {url}")
    return out


def html_pages(root: Path) -> list[Path]:
    """Every HTML page of the book (not the copies of sources or the theme's files)."""
    skip = {"_static", "_sources", "_images", "_downloads"}
    return sorted(p for p in root.rglob("*.html")
                  if not skip & set(p.relative_to(root).parts[:-1]))


def check(root: Path) -> tuple[list[str], list[str]]:
    """``(problems, external links)`` of the book built in ``root``."""
    problems, external = [], []
    for page in html_pages(root):
        name = page.relative_to(root)
        parsed = parse(page)
        for href in parsed.links:
            if is_external(href):
                external.append(f"{name}: {href}")
            elif problem := check_link(root, page, href):
                problems.append(f"{name}: broken link {problem}")
        for tag, url in parsed.resources:
            if problem := check_resource(root, page, tag, url):
                problems.append(f"{name}: {problem}")
    for css in sorted(root.rglob("*.css")):
        problems += check_css(root, css)
    return problems, external


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "_build" / "html"
    ap.add_argument("root", nargs="?", type=Path, default=default, help="built HTML folder")
    ap.add_argument("--list-external", action="store_true", help="print links to other sites")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    if not (root / "index.html").is_file():
        print(f"check_book: no built book in {root} (run scripts/build_book.sh)", file=sys.stderr)
        return 2
    problems, external = check(root)
    pages = len(html_pages(root))
    if args.list_external:
        print("\n".join(sorted(set(external))))
    for p in problems:
        print("PROBLEM", p)
    print(f"check_book: {pages} pages, {len(problems)} problems, "
          f"{len(set(h.split(': ', 1)[1] for h in external))} distinct links to other sites")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
