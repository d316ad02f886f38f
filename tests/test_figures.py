"""Figures that every reader can read: alt text, captions, numbers, references and colours.

The helper (``course_lib.figures``) and the book's Sphinx extension (``_ext/book_accessibility.py``)
are tested here on small figures; the chapters are checked in their source, without running
them: every figure a chapter draws is a named figure with a caption, drawn by the helper (so
its PNG carries its alt text), and referred to by number. The built book is checked in
``tests/test_browser.py`` (every ``<img>`` has real alt text, every figure a number and a
reference, no serious axe-core violation).
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from docutils import nodes  # noqa: E402
from PIL import Image  # noqa: E402

from course_lib import figures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
import book_accessibility as sphinx_ext  # noqa: E402  (the book's extension, _ext/)

ALT = "Test accuracy rises from 10% to 45% over 1,500 steps."


def small_figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [0.1, 0.3, 0.45], "o-")
    return fig


# The helper ------------------------------------------------------------------------------------
def test_the_png_carries_its_alt_text_and_caption_note(tmp_path):
    fig = small_figure()
    figure = figures.render(fig, ALT, profile="cpu")
    plt.close(fig)
    path = tmp_path / "figure.png"
    path.write_bytes(figure.png)
    text = figures.png_text(path)
    assert text[figures.ALT_KEY] == ALT
    assert text[figures.NOTE_KEY] == "Made under the cpu profile."
    assert figures.png_text(tmp_path / "missing.png") == {}


def test_non_latin_alt_text_survives(tmp_path):
    alt = "The gap grows from −0.5 to 3.2 points — over 5 seeds (σ = 0.4)."
    fig = small_figure()
    path = tmp_path / "figure.png"
    path.write_bytes(figures.render(fig, alt, profile="smoke").png)
    plt.close(fig)
    assert figures.png_text(path)[figures.ALT_KEY] == alt


def test_the_png_is_opaque_on_white_even_if_asked_for_transparency():
    with matplotlib.rc_context({"savefig.transparent": True, "figure.facecolor": "none"}):
        fig = small_figure()
        png = figures.render(fig, ALT, profile="cpu").png
        plt.close(fig)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    assert (pixels[..., 3] == 255).all(), "transparent pixels: dark mode would show through"
    assert (pixels[0, 0, :3] == 255).all(), "the background is not white"


@pytest.mark.parametrize("alt", ["", "   ", "../_images/2a5d0c1e.png", "figure.png",
                                 "2a5d0c1e9b7f4a3c2a5d0c1e9b7f4a3c", "a plot"])
def test_alt_text_must_be_a_sentence_not_a_file_name(alt):
    with pytest.raises(ValueError, match="alt text"):
        figures.check_alt(alt)


@pytest.mark.parametrize("alt", [None, 3, b"A plot of the loss over steps."])
def test_alt_text_is_required_text(alt):
    fig = small_figure()
    with pytest.raises(TypeError, match="alt text is required"):
        figures.show(fig, alt=alt, profile="smoke")
    plt.close(fig)


def test_alt_text_is_normalised():
    assert figures.check_alt(f"  {ALT[:20]}\n   {ALT[20:]} ") == ALT


def test_caption_note_names_one_profile_or_says_it_in_a_sentence():
    assert figures.caption_note("paper") == "Made under the paper profile."
    assert figures.caption_note(note="Recorded on a GPU.") == "Recorded on a GPU."
    for bad in ({}, {"profile": "cpu", "note": "x"}, {"profile": "gpu"}):
        with pytest.raises(ValueError):
            figures.caption_note(**bad)


def test_show_displays_the_png_once_and_closes_the_figure(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fig = small_figure()
    assert figures.show(fig, ALT, profile="smoke") is None  # a last line shows nothing more
    assert not plt.fignum_exists(fig.number), "the inline backend would show it again"
    (figure,) = shown
    bundle = figure._repr_mimebundle_()
    assert set(bundle) == {"image/png", "text/plain"}, "no width/height: they distort the <img>"
    assert bundle["text/plain"] == ALT
    assert base64.b64decode(bundle["image/png"]) == figure.png


def test_use_style_sets_the_colour_blind_safe_palette_on_white():
    with matplotlib.rc_context():
        figures.use_style()
        colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        assert [c.lower() for c in colours] == [c.lower() for c in figures.OKABE_ITO]
        assert matplotlib.rcParams["figure.facecolor"] == "white"


# Colours distinguishable with the common colour-vision deficiencies ----------------------------
# Machado, Oliveira and Fernandes (2009), severity 1, on linear RGB.
CVD = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                      [-0.003882, -0.048116, 1.051998]],
       "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                        [-0.011820, 0.042940, 0.968881]],
       "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                      [0.004733, 0.691367, 0.303900]]}


def _lab(colour, matrix):
    c = np.asarray(mcolors.to_rgb(colour))
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lin = np.clip(np.asarray(matrix) @ lin, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def smallest_difference(colours) -> dict[str, float]:
    """The smallest CIELAB distance between two of ``colours``, as seen by each kind of
    vision."""
    out = {}
    for name, matrix in {"normal": np.eye(3), **CVD}.items():
        lab = [_lab(c, matrix) for c in colours]
        out[name] = min(np.linalg.norm(a - b) for i, a in enumerate(lab) for b in lab[:i])
    return out


def test_the_first_five_colours_stay_apart_for_every_kind_of_vision():
    # The chapters draw at most five series in one plot (C0-C4); 15 CIELAB units is a
    # clearly visible difference. matplotlib's default tab10 fails this (its green, orange and
    # red fall together under protanopia and deuteranopia).
    assert min(smallest_difference(figures.OKABE_ITO[:5]).values()) > 15
    tab10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    assert min(smallest_difference(tab10).values()) < 15


# CIFAR-10 grids with torchvision's make_grid ---------------------------------------------------
def test_image_grid_puts_image_i_at_tile_centre_i_on_white():
    colours = np.linspace(0, 200, 10).astype(np.uint8)
    images = np.broadcast_to(colours[:, None, None, None], (10, 3, 32, 32)).copy()
    images[:, 1] = 255 - images[:, 1]  # two channels differ: a wrong transpose shows
    grid = figures.image_grid(images, nrow=4, padding=2)
    assert grid.shape == (3 * 34 + 2, 4 * 34 + 2, 3)
    for i, (x, y) in enumerate(figures.tile_centres(10, nrow=4, padding=2)):
        pixel = grid[int(y), int(x)]
        assert np.allclose(pixel * 255, [colours[i], 255 - colours[i], colours[i]], atol=1)
    assert (grid[0, 0] == 1).all() and (grid[-1, -1] == 1).all()  # padding and empty tiles
    floats = figures.image_grid(images / 255.0, nrow=4, padding=2)
    assert np.allclose(floats, grid, atol=1e-6)


# The Sphinx extension --------------------------------------------------------------------------
def test_alt_text_and_profile_note_reach_the_image_and_caption(tmp_path):
    fig = small_figure()
    (tmp_path / "a.png").write_bytes(figures.render(fig, ALT, profile="cpu").png)
    plt.close(fig)
    doc = nodes.document("", None)
    figure = nodes.figure("", nodes.image(uri="a.png"), nodes.caption("", "Test accuracy."))
    named = nodes.image(uri="b.svg", alt="A graph of the BatchNorm forward pass.")
    bare, by_name = nodes.image(uri="c.png"), nodes.image(uri="d.png", alt="../_images/d.png")
    doc += [figure, named, bare, by_name]
    missing = sphinx_ext.annotate_images(doc, lambda image: tmp_path / image["uri"])
    assert figure[0]["alt"] == ALT
    assert figure[1].astext() == "Test accuracy. Made under the cpu profile."
    assert named["alt"].startswith("A graph")
    assert missing == [bare, by_name]


def test_citations_become_list_items():
    html = ('<div role="list" class="citation-list">\n<div class="citation" id="x" '
            'role="doc-biblioentry">')
    fixed = sphinx_ext.fix_citation_roles(html)
    assert 'role="listitem"' in fixed and "doc-biblioentry" not in fixed


# The chapters, in their source -----------------------------------------------------------------
def book_files() -> list[Path]:
    """The book's pages, from _toc.yml (the chapter template too: new chapters copy it)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    found = []
    for name in files:
        for suffix in (".ipynb", ".md"):
            if (ROOT / (name + suffix)).is_file():
                found.append(ROOT / (name + suffix))
    return found + [ROOT / "chapters" / "_template.ipynb"]


def cells(path: Path) -> list[dict]:
    if path.suffix == ".md":
        return [{"cell_type": "markdown", "source": path.read_text(), "metadata": {}}]
    return [dict(c, source="".join(c["source"])) for c in json.loads(path.read_text())["cells"]]


DRAWS = re.compile(r"plt\.(subplots|figure)\(")
NUMREF = re.compile(r"\{numref\}`(?:[^`<]*<)?([^`<>]+)>?`")
MD_FIGURE = re.compile(r"^(:::+|```+)\{figure\}[^\n]*\n(.*?)^\1", re.M | re.S)


def figures_in(path: Path) -> list[dict]:
    """Every figure of a page: {"name", "caption", "alt" (markdown) or "code" (a cell)}."""
    found = []
    for cell in cells(path):
        if cell["cell_type"] == "code":
            meta = cell["metadata"].get("mystnb", {}).get("figure")
            if meta or DRAWS.search(cell["source"]):
                meta = meta or {}
                found.append({"name": meta.get("name"), "caption": meta.get("caption", ""),
                              "code": cell["source"], "where": f"{path.name} {cell.get('id')}"})
        else:
            for match in MD_FIGURE.finditer(cell["source"]):
                body = match.group(2)
                options = dict(re.findall(r"^:(\w+):[ \t]*(.*)$", body, re.M))
                caption = "\n".join(line for line in body.splitlines()
                                    if not line.startswith(":")).strip()
                found.append({"name": options.get("name"), "caption": caption,
                              "alt": options.get("alt", ""),
                              "where": f"{path.name} {cell.get('id')}"})
    return found


def all_figures() -> list[dict]:
    return [f for path in book_files() for f in figures_in(path)]


def test_every_figure_a_chapter_draws_is_named_captioned_and_has_alt_text():
    problems = []
    for f in all_figures():
        if not (f["name"] or "").startswith("fig-"):
            problems.append(f"{f['where']}: no figure name (cell metadata mystnb.figure.name)")
        if len(f["caption"].split()) < 4:
            problems.append(f"{f['where']}: no caption")
        if "code" in f:
            if f["code"].count("figures.show(") != 1 or "plt.show()" in f["code"]:
                problems.append(f"{f['where']}: draws without figures.show (one per cell)")
        elif len(f["alt"].split()) < 4:
            problems.append(f"{f['where']}: no :alt: text")
    assert all_figures(), "no figures found: the test looks in the wrong place"
    assert not problems, "\n".join(problems)


def test_every_figure_is_referenced_by_number():
    names = [f["name"] for f in all_figures() if f["name"]]
    assert len(names) == len(set(names)), "two figures share a name"
    refs = {m for path in book_files() for c in cells(path) if c["cell_type"] == "markdown"
            for m in NUMREF.findall(c["source"])}
    unreferenced = sorted(set(names) - refs)
    assert not unreferenced, f"figures never referred to with {{numref}}: {unreferenced}"


def test_the_reproduced_report_figures_say_which_they_reproduce():
    captions = [f["caption"] for f in all_figures()]
    for n in (1, 2, 3):
        said = [c for c in captions if f"report's Figure {n}, reproduced" in c]
        assert len(said) == 1, f"the report's Figure {n}: {len(said)} captions say so"


def test_every_chapter_that_plots_uses_the_course_style():
    for path in book_files():
        source = "\n".join(c["source"] for c in cells(path) if c["cell_type"] == "code")
        if "matplotlib" in source:
            assert "figures.use_style()" in source, f"{path.name} plots in matplotlib's colours"


class _Run:
    def __init__(self, values):
        self.curves = {"eval": {"step": [100, 200, 300], "test_accuracy": values}}


@pytest.mark.parametrize("band", ["std", "se", "range"])
def test_seed_band_draws_the_stated_band(band):
    runs = [_Run([0.1, 0.2, 0.3]), _Run([0.3, 0.4, 0.5]), _Run([0.2, 0.3, 0.4])]
    fig, ax = plt.subplots()
    steps, mean, low, high = figures.seed_band(ax, runs, band=band, scale=100, label="test")
    half = {"std": 0.1, "se": 0.1 / np.sqrt(3), "range": 0.1}[band]
    assert list(steps) == [100, 200, 300]
    assert mean == pytest.approx([0.2, 0.3, 0.4])
    assert low == pytest.approx(mean - half) and high == pytest.approx(mean + half)
    labels = [t.get_text() for t in ax.legend().get_texts()]
    assert "test, mean of 3 seeds" in labels and len(ax.lines) == 4  # 3 seeds + the mean
    assert any({"std": "std", "se": "s.e.", "range": "range"}[band] in t for t in labels)
    plt.close(fig)
    with pytest.raises(ValueError, match="band"):
        figures.seed_band(ax, runs, band="ci")


def test_heat_map_annotates_every_finite_cell():
    fig, ax = plt.subplots()
    values = np.array([[0.1, np.nan], [0.5, 0.9]])
    image = figures.heat_map(ax, values, ["a", "b"], ["x", "y"], fmt="{:.1f}", label="%")
    assert [t.get_text() for t in ax.texts] == ["0.1", "0.5", "0.9"]  # NaN: no text
    assert [t.get_color() for t in ax.texts] == ["w", "w", "k"]  # dark text on light cells
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    assert image.get_array().shape == (2, 2)
    with pytest.raises(ValueError, match="shape"):
        figures.heat_map(ax, values, ["a"], ["x", "y"])
    plt.close(fig)
