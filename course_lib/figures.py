"""A chapter's figure, with its alt text, from the notebook to the book.

A plotting cell draws with matplotlib as usual and ends with ``figures.show(fig, alt=...,
profile=...)`` instead of ``plt.show()``. The figure is displayed as a PNG, as the inline
backend would show it, and the PNG itself carries two texts in its metadata:

- its alt text (``Description``): the figure's finding in a sentence, computed by the cell
  from the run, so that it stays true whatever the run gives;
- a note for the caption (``Caption-note``): under which profile the figure was made.

The cell's metadata makes the output a numbered figure in the book (myst-nb's
``"mystnb": {"figure": {"caption": ..., "name": "fig-..."}}``), and chapters refer to it
with ``{numref}``. The book's Sphinx extension (`_ext/book_accessibility.py`) copies the
PNG's alt text into the image node and appends the note to the figure's caption.

:func:`use_style` sets the course's plot style: the Okabe--Ito palette, which stays
distinguishable under the common colour-vision deficiencies, on an opaque white background
that reads the same in the book's light and dark schemes.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from pathlib import Path

#: PNG text keys: the alt text, and the sentence appended to the caption.
ALT_KEY = "Description"
NOTE_KEY = "Caption-note"

#: Okabe and Ito's colour-blind-safe palette (without its yellow, too light on white): blue,
#: orange, bluish green, vermillion, reddish purple, sky blue, black.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")

_FILE_NAME = re.compile(r"(^|[/\\])[^\s/\\]+\.(png|jpe?g|gif|svg|pdf|webp)$|^[0-9a-f]{16,}",
                        re.IGNORECASE)


def use_style() -> None:
    """The course's plot style, for every figure drawn after it (a chapter calls it once)."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
        "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
        "savefig.transparent": False, "legend.framealpha": 0.9,
    })


def looks_like_file_name(text: str) -> bool:
    """Whether an alt text is a file name or a hash (what Sphinx writes when there is none)."""
    return bool(_FILE_NAME.search(text.strip()))


def check_alt(alt: str) -> str:
    """``alt``, stripped, if it reads as a sentence; else a ``ValueError`` that says why (a
    ``TypeError`` if it is not text: every figure needs one)."""
    if not isinstance(alt, str):
        raise TypeError(f"alt text is required: a sentence (a str) that states what the figure "
                        f"shows, not {alt!r}")
    alt = " ".join(alt.split())
    if len(alt.split()) < 4 or looks_like_file_name(alt):
        raise ValueError(f"alt text must state what the figure shows, in a sentence: {alt!r}")
    return alt


@dataclass(frozen=True)
class Figure:
    """A drawn figure as a PNG with its alt text and caption note; Jupyter displays it."""

    png: bytes
    alt: str
    note: str

    def _repr_mimebundle_(self, include=None, exclude=None):
        # No width or height metadata: myst-nb would write them into the <img>, and a fixed
        # height distorts the image where the page is narrower than the figure.
        return {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.alt}


def caption_note(profile: str | None = None, note: str | None = None) -> str:
    """The sentence for the caption: "Made under the cpu profile.", or ``note`` as it is."""
    from .profiles import PROFILES

    if (profile is None) == (note is None):
        raise ValueError("give the profile the figure was made under, or a note, not both")
    if note is not None:
        return note
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; one of {PROFILES}, or give a note")
    return f"Made under the {profile} profile."


def render(fig, alt: str, profile: str | None = None, note: str | None = None) -> Figure:
    """``fig`` as a PNG on an opaque white background, carrying ``alt`` and the caption note
    (:func:`caption_note`)."""
    alt, note = check_alt(alt), caption_note(profile, note)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight", facecolor="white",
                transparent=False, metadata={ALT_KEY: alt, NOTE_KEY: note})
    return Figure(buf.getvalue(), alt, note)


def show(fig, alt: str, profile: str | None = None, note: str | None = None) -> None:
    """Display ``fig`` (see :func:`render`) as the cell's output, and close it.

    ``alt`` states the figure's finding, computed from the run where it depends on the run;
    ``profile`` is the profile the figure was made under (its caption says so), or ``note``
    says it in a sentence where one profile does not (a recorded run, two panels). Returns
    nothing, so that a last line ``figures.show(...)`` does not display the figure twice.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    figure = render(fig, alt, profile, note)
    plt.close(fig)  # else the inline backend shows it a second time
    display(figure)


def png_text(path: Path) -> dict[str, str]:
    """The text chunks of a PNG file (empty for another file type or a missing file)."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".png" or not path.is_file():
        return {}
    with Image.open(path) as image:
        return dict(getattr(image, "text", {}))


def image_grid(images, nrow: int, padding: int = 2):
    """CIFAR-10 images ``[N, 3, H, W]`` (uint8, or floats in 0..1) tiled by torchvision's
    ``make_grid``, ``nrow`` per row, on white: an ``[rows, columns, 3]`` array for ``imshow``."""
    import numpy as np
    import torch
    from torchvision.utils import make_grid

    x = torch.as_tensor(np.asarray(images))
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def tile_centres(n: int, nrow: int, size: int = 32, padding: int = 2) -> list[tuple[float, float]]:
    """The (x, y) pixel centre of tile ``i`` of :func:`image_grid`, for ``i < n``."""
    step = size + padding
    return [(padding + (i % nrow) * step + (size - 1) / 2,
             padding + (i // nrow) * step + (size - 1) / 2) for i in range(n)]


def seed_band(ax, runs, metric: str = "test_accuracy", curve: str = "eval", band: str = "std",
              scale: float = 1.0, color=None, label: str = "", singles: bool = True,
              fmt: str = "o-"):
    """Draw ``metric`` of ``curve`` over training for several seeds on ``ax``: each seed thin
    (``singles``), their mean, and a shaded band: ``"std"`` mean ± one standard deviation over
    seeds (the spread of single runs), ``"se"`` mean ± one standard error (the uncertainty of
    the mean), or ``"range"`` lowest to highest seed. The legend says which. Returns
    ``(steps, mean, low, high)`` as arrays (unscaled), for the figure's alt text."""
    import numpy as np

    from .stats import summarize

    if band not in ("std", "se", "range"):
        raise ValueError(f"band must be 'std', 'se' or 'range', got {band!r}")
    runs = list(runs)
    if not runs:
        raise ValueError("seed_band needs at least one run")
    steps = np.asarray(runs[0].curves[curve]["step"])
    values = np.array([r.curves[curve][metric] for r in runs], dtype=float)
    if values.shape[1] != len(steps):
        raise ValueError("the runs' curves do not share their steps")
    columns = [summarize(v) for v in values.T]
    mean = np.array([s.mean for s in columns])
    if band == "range":
        low, high = values.min(0), values.max(0)
    else:
        half = np.array([(s.std if band == "std" else s.se) or 0.0 for s in columns])
        low, high = mean - half, mean + half
    name = {"std": "± 1 std over seeds", "se": "± 1 s.e. of the mean",
            "range": "range over seeds"}[band]
    if singles and len(runs) > 1:
        for v in values:
            ax.plot(steps, scale * v, color=color, alpha=0.3, lw=0.8)
    (line,) = ax.plot(steps, scale * mean, fmt, color=color, ms=3,
                      label=f"{label}{', ' if label else ''}mean of {len(runs)} seeds")
    if len(runs) > 1:
        ax.fill_between(steps, scale * low, scale * high, color=line.get_color(), alpha=0.2,
                        label=f"{label}{', ' if label else ''}{name}")
    return steps, mean, low, high


def heat_map(ax, values, rows, columns, fmt: str = "{:.1f}", label: str = "", cmap="viridis"):
    """``values`` (a 2-D array; NaN for an empty cell) as an annotated heat map on ``ax``:
    ``rows`` and ``columns`` label the axes' ticks, each cell shows its value formatted by
    ``fmt`` (dark text on the light end of the scale, light text on the dark end), and a colour
    bar with ``label``. Returns the image."""
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.asarray(values, dtype=float)
    if values.shape != (len(rows), len(columns)):
        raise ValueError(f"values of shape {values.shape} for {len(rows)} rows and "
                         f"{len(columns)} columns")
    image = ax.imshow(values, cmap=cmap)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                    color="k" if image.norm(v) > 0.6 else "w")
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), rows)
    plt.colorbar(image, ax=ax, label=label)
    return image
