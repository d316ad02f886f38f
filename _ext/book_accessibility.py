"""The book's own Sphinx extension (``_config.yml``, ``sphinx: extra_extensions``): accessibility.

- **Figures.** A chapter draws a figure with :func:`course_lib.figures.show`, which saves the
  figure's alt text and a caption note (the profile) in the PNG itself. After a page is read,
  :func:`annotate_images` copies that alt text into the image node and appends the note to
  the caption of the figure around it. Any image still without real alt text (none, or a file
  name, which is what Sphinx writes by default) is a warning, so ``-W`` fails the build.
- **The bibliography.** docutils writes citations as ``role="doc-biblioentry"`` inside a
  ``role="list"``; DPUB-ARIA 1.1 deprecated that role, so the list has no valid items
  (axe-core: ``aria-required-children``, critical). Each citation becomes a ``listitem``.
- **Colours.** ``book.css`` (beside this file) fixes the theme's colour contrast in the light
  and the dark scheme; it is added to every page.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from course_lib.figures import ALT_KEY, NOTE_KEY, looks_like_file_name, png_text

CSS = Path(__file__).with_name("book.css")


def annotate_images(doctree, path_of: Callable) -> list:
    """Alt text and caption notes from the PNGs of ``doctree``'s images (``path_of(image)`` is
    the file of an image node); returns the images left without real alt text."""
    from docutils import nodes

    missing = []
    for image in doctree.findall(nodes.image):
        uri = image.get("uri", "")
        text = png_text(path_of(image)) if "://" not in uri else {}
        if text.get(ALT_KEY):
            image["alt"] = text[ALT_KEY]
        figure = image.parent
        while figure is not None and not isinstance(figure, nodes.figure):
            figure = figure.parent
        captions = list(figure.findall(nodes.caption)) if figure is not None else []
        if text.get(NOTE_KEY) and captions:
            captions[0] += nodes.Text(" " + text[NOTE_KEY])
        alt = image.get("alt", "")
        if not alt.strip() or looks_like_file_name(alt):
            missing.append(image)
    return missing


def _on_doctree_read(app, doctree) -> None:
    from sphinx.util import logging

    docname = app.env.docname

    def path_of(image) -> Path:
        # Sphinx's image collector may already have made the URI relative to the source folder.
        if "*" in image.get("candidates", {}):
            return Path(app.srcdir) / image["candidates"]["*"]
        return Path(app.env.relfn2path(image["uri"], docname)[1])

    for image in annotate_images(doctree, path_of):
        logging.getLogger(__name__).warning(
            "image without alt text: %s (draw it with course_lib.figures.show, or give the "
            "figure an :alt:)", image.get("uri"), location=image, type="course", subtype="alt")


def fix_citation_roles(html: str) -> str:
    """Citations as list items: the deprecated ``doc-biblioentry`` role becomes ``listitem``."""
    return html.replace('role="doc-biblioentry"', 'role="listitem"')


def _on_html_page_context(app, pagename, templatename, context, doctree) -> None:
    if "body" in context:
        context["body"] = fix_citation_roles(context["body"])


def css_copier(css: Path):
    """A ``build-finished`` handler that copies ``css`` into an HTML build's ``_static``
    (the PDF extension's print style uses it too)."""
    def copy(app, exception) -> None:
        if exception is None and app.builder.format == "html":
            static = Path(app.builder.outdir) / "_static"
            static.mkdir(parents=True, exist_ok=True)
            (static / css.name).write_text(css.read_text())
    return copy


def setup(app) -> dict:
    """Sphinx extension entry point."""
    app.connect("doctree-read", _on_doctree_read)
    app.connect("html-page-context", _on_html_page_context)
    app.connect("build-finished", css_copier(CSS))
    app.add_css_file(CSS.name)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
