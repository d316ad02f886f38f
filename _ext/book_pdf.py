"""The book's PDF (``scripts/build_pdf.sh``): a Sphinx extension for both HTML builders.

``scripts/build_pdf.sh`` builds the book with Sphinx's ``singlehtml`` builder from the pages
the HTML build executed (the same ``_build/.doctrees``, so no chapter runs twice) and prints
that one page with headless Chromium. This extension

- **records where the executed pages come from**: when Sphinx reads (executes) a page, the
  profile (``$COURSE_PROFILE`` as :func:`course_lib.profiles.active_profile` resolves it) and
  the commit (``git describe --always --dirty``) go into the build environment, so the PDF
  names the profile and commit of the numbers it prints, not those of the moment it is printed;
- **writes a title page** (``singlehtml`` only) at the top of the one page: title, author,
  profile, commit, date, what is left out (the solutions of the exercises, the code of
  hidden set-up cells) and a table of contents with links, in the order of ``_toc.yml``;
- **adds print rules** (``book_print.css``, beside this file; ``@media print``) to every page:
  A4 pages, no navigation, buttons or search, code that wraps instead of running off the page,
  each chapter on a new page; in the PDF only, the solutions are left out;
- **links the PDF from every page**: the theme's download menu gets a "book (.pdf)" entry
  pointing at ``book.pdf`` at the root of the HTML book, where ``build_pdf.sh`` copies it.
"""

from __future__ import annotations

import datetime as dt
import html
import subprocess
from pathlib import Path

from book_accessibility import css_copier  # a neighbour in _ext/, on sys.path for Sphinx

CSS = Path(__file__).with_name("book_print.css")
#: Where the PDF lies in the HTML book (``build_pdf.sh`` copies ``_build/pdf/book.pdf`` here).
PDF_NAME = "book.pdf"
#: What the PDF leaves out, as the title page says it (``book_print.css`` does it).
LEFT_OUT = ("The solutions of the exercises are left out of this PDF (they are in the HTML "
            "book and the notebooks, behind each exercise's solution dropdown), and so is the "
            "code of hidden set-up cells.")


def provenance(root: Path) -> dict[str, str]:
    """``{"profile": ..., "commit": ...}`` of a build that executes the chapters now."""
    from course_lib.profiles import active_profile

    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                                cwd=root, capture_output=True, text=True, check=True,
                                timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown (not a git checkout)"
    return {"profile": active_profile(), "commit": commit}


def _on_builder_inited(app) -> None:
    """Give ``singlehtml`` every HTML visitor it lacks. Sphinx looks a node's visitors up by
    builder name and falls back on the format ("html") only when no extension registered any
    for the name; one does, so myst-nb's hidden cells (``HideCodeCellNode``, registered for
    "html") would fail the ``singlehtml`` build ("unknown node type")."""
    if app.builder.name == "singlehtml":
        handlers = app.registry.translation_handlers
        single = handlers.setdefault("singlehtml", {})
        for node, visitors in handlers.get("html", {}).items():
            single.setdefault(node, visitors)


_NOW: dict[str, dict[str, str]] = {}  # the provenance of this process's reads, by source folder


def _on_doctree_read(app, doctree) -> None:
    if app.srcdir not in _NOW:
        _NOW[app.srcdir] = provenance(Path(app.srcdir))
    if not hasattr(app.env, "book_provenance"):
        app.env.book_provenance = {}
    app.env.book_provenance[app.env.docname] = _NOW[app.srcdir]


def _on_purge(app, env, docname) -> None:
    getattr(env, "book_provenance", {}).pop(docname, None)


def _on_merge(app, env, docnames, other) -> None:
    if not hasattr(env, "book_provenance"):
        env.book_provenance = {}
    for docname in docnames:
        if docname in getattr(other, "book_provenance", {}):
            env.book_provenance[docname] = other.book_provenance[docname]


def _one(values: set[str]) -> str:
    return next(iter(values)) if len(values) == 1 else "mixed: " + ", ".join(sorted(values))


def contents(app) -> list[tuple[str | None, list[tuple[str, str, str]]]]:
    """The book's parts in ``_toc.yml`` order: ``[(caption, [(number, title, href)])]``."""
    from sphinx import addnodes

    env, builder = app.env, app.builder
    root = app.config.root_doc
    parts = []
    for toctree in env.get_doctree(root).findall(addnodes.toctree):
        entries = []
        for _, docname in toctree["entries"]:
            if docname not in env.titles:
                continue
            # singlehtml merges every page's numbers under the root, as "docname/anchor".
            number = (env.toc_secnumbers.get(docname, {}).get("")
                      or env.toc_secnumbers.get(root, {}).get(f"{docname}/"))
            entries.append((".".join(map(str, number)) if number else "",
                            env.titles[docname].astext(),
                            builder.get_relative_uri(root, docname)))
        parts.append((toctree.get("caption"), entries))
    return parts


def title_page(app) -> str:
    """The PDF's first page (HTML): title, provenance, what is left out, contents."""
    config, env = app.config, app.env
    records = getattr(env, "book_provenance", {})
    profile = _one({r["profile"] for r in records.values()}) if records else "unknown"
    commit = _one({r["commit"] for r in records.values()}) if records else "unknown"
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    e = html.escape
    author = config.html_context.get("author") or getattr(config, "author", "")
    toc = []
    for caption, entries in contents(app):
        items = "".join(f'<li><a href="{e(href)}"><span class="book-pdf-number">{e(number)}'
                        f"</span> {e(title)}</a></li>" for number, title, href in entries)
        head = f'<p class="book-pdf-part">{e(caption)}</p>' if caption else ""
        toc.append(f"{head}<ul>{items}</ul>")
    return (
        '<section id="book-pdf-title" class="book-pdf-title">'
        f'<p class="book-pdf-booktitle">{e(config.html_title or config.project)}</p>'
        f'<p class="book-pdf-author">{e(author)}</p>'
        '<dl class="book-pdf-provenance">'
        f"<dt>Profile</dt><dd><code>{e(profile)}</code> (<code>COURSE_PROFILE</code>: the "
        "scale of the experiments whose numbers this PDF prints)</dd>"
        f"<dt>Commit</dt><dd><code>{e(commit)}</code></dd>"
        f"<dt>Printed</dt><dd>{e(today)}</dd></dl>"
        f'<p class="book-pdf-left-out">{e(LEFT_OUT)}</p>'
        '<nav class="book-pdf-contents" aria-label="Contents"><p class="book-pdf-part">'
        f'Contents</p>{"".join(toc)}</nav></section>'
    )


def _on_html_page_context(app, pagename, templatename, context, doctree) -> None:
    if app.builder.name == "singlehtml" and pagename == app.config.root_doc \
            and "body" in context:
        context["body"] = title_page(app) + context["body"]
    # The theme's download menu (sphinx-book-theme builds it at priority 501).
    for button in context.get("header_buttons", []):
        if button.get("label") == "download-buttons":
            button["buttons"].append({
                "type": "link",
                "url": context["pathto"](PDF_NAME, 1),
                "text": "book (.pdf)",
                "tooltip": "Download the whole book as one PDF",
                "icon": "fas fa-book",
                "label": "download-book-pdf-button",
            })




def setup(app) -> dict:
    """Sphinx extension entry point."""
    app.connect("builder-inited", _on_builder_inited)
    app.connect("doctree-read", _on_doctree_read)
    app.connect("env-purge-doc", _on_purge)
    app.connect("env-merge-info", _on_merge)
    app.connect("html-page-context", _on_html_page_context, priority=600)
    app.connect("build-finished", css_copier(CSS))
    app.add_css_file(CSS.name, media="print")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
