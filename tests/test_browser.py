"""The built book in a real browser: every page loads and renders offline.

Runs after the book is built (``.ci/run`` does ``BOOK_BUILT=1 pytest tests/test_browser.py``);
a plain ``pytest`` run, before any build, skips it ("book not built"). It serves
``_build/html`` (or ``$BOOK_HTML``) on 127.0.0.1, opens every page in headless Chromium
(Debian's ``chromium`` and ``chromium-driver``, driven by selenium) and checks, per page:

- it loads, with no JavaScript error in the console;
- MathJax typeset every equation: one ``mjx-container`` per math element, no MathJax error,
  and no raw ``$$``, ``\\frac``, ``\\(``, ``\\[`` left in the visible text outside code;
- every image loaded (``naturalWidth > 0``);
- notebook pages have the download (.ipynb) button, and launch buttons (Colab, Binder) for the
  repository that ``_config.yml`` names once the course is published
  (``scripts/publish_config.py``), none before;
- no internal link is broken (the file exists and so does its ``#anchor``), links added by
  JavaScript included;
- rendering needs nothing from outside: the page's script/link/img/... sources are local, and
  the browser made no request to a host other than 127.0.0.1 while loading it.

It saves a screenshot of each chapter's first screen in ``_build/screenshots/``.

Accessibility: axe-core (npm's package, pinned and fetched once by ``scripts/fetch_npm.py``,
injected into the page, so the page itself loads nothing more) runs its WCAG 2 A and AA rules
on every page in the light and the dark colour scheme and fails on any serious or critical
violation; the counts of all its findings go to ``_build/axe-report.json``. Every ``<img>``
must have alt text that is not a file name, and every figure a number, a caption and a
``{numref}`` reference.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML") or ROOT / "_build" / "html").resolve()
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MATHJAX_TIMEOUT_S = 30

check_book = load_script("check_book")


def _pages() -> list[str]:
    if not os.environ.get("BOOK_BUILT") or not (HTML / "index.html").is_file():
        return ["(no pages)"]
    return [p.relative_to(HTML).as_posix() for p in check_book.html_pages(HTML)]


def _is_notebook_page(page: str) -> bool:
    return (HTML / "_sources" / page).with_suffix(".ipynb").is_file()


def _expected_launch_buttons(page: str) -> set[str]:
    """The launch buttons of a notebook page: Colab's and Binder's for the repository that
    ``_config.yml`` names (``scripts/publish_config.py``), none while it names none."""
    import yaml

    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    if not repository["url"]:
        return set()
    repo, branch = urlsplit(repository["url"]).path.strip("/"), repository["branch"]
    notebook = page.removesuffix(".html") + ".ipynb"
    return {f"https://colab.research.google.com/github/{repo}/blob/{branch}/{notebook}",
            f"https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=tree/{notebook}"}


@pytest.fixture(scope="module")
def built():
    """The built book's folder; skips the module before a build (no ``BOOK_BUILT``)."""
    if not os.environ.get("BOOK_BUILT"):
        pytest.skip("book not built: run scripts/build_book.sh, then "
                    "BOOK_BUILT=1 pytest tests/test_browser.py (as .ci/run does)")
    assert (HTML / "index.html").is_file(), \
        f"BOOK_BUILT is set but there is no built book in {HTML} (scripts/build_book.sh)"
    return HTML


@pytest.fixture(scope="module")
def book(built):
    """The built book's folder, when a browser is there to open it."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("no browser: the selenium package is not installed")
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("no browser: install Debian's chromium and chromium-driver")
    return HTML


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(book):
    """The built book over HTTP on 127.0.0.1 (a free port), in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(book, headless_chromium):
    driver = headless_chromium({"browser": "ALL", "performance": "ALL"}, 60, MATHJAX_TIMEOUT_S + 5)
    yield driver
    driver.quit()


# JavaScript run in the page -------------------------------------------------------------------
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) { done("no MathJax"); return; }
MathJax.startup.promise.then(() => done("ok"), (err) => done("error: " + err));
"""

WAIT_FOR_IMAGES = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
imgs.forEach((img) => { if (img.loading === "lazy") img.loading = "eager"; });
const pending = imgs.filter((img) => !img.complete).map((img) => new Promise((ok) => {
  img.addEventListener("load", ok); img.addEventListener("error", ok); }));
Promise.all(pending).then(() => done(imgs.map((img) => ({
  src: img.getAttribute("src"), width: img.naturalWidth, complete: img.complete}))));
"""

PAGE_FACTS = """
const main = document.querySelector("main") || document.body;
const clone = main.cloneNode(true);
clone.querySelectorAll("pre, code, .highlight, script, style, mjx-container, textarea")
  .forEach((e) => e.remove());
const resources = [];
const attrs = {script: "src", link: "href", img: "src", iframe: "src", source: "src",
               video: "src", audio: "src", embed: "src", object: "data", track: "src"};
for (const [tag, attr] of Object.entries(attrs)) {
  document.querySelectorAll(tag + "[" + attr + "]").forEach((e) => {
    if (tag === "link" && /canonical|alternate|next|prev|search|index/.test(e.rel || "")) return;
    resources.push([tag, e.getAttribute(attr)]);
  });
}
return {
  title: document.title,
  text: clone.textContent,
  math: document.querySelectorAll(".math").length,
  mjx: document.querySelectorAll("mjx-container").length,
  merror: document.querySelectorAll("mjx-merror, .MathJax_Error").length,
  links: Array.from(document.querySelectorAll("a[href]")).map((a) => a.getAttribute("href")),
  launch: Array.from(document.querySelectorAll(".dropdown-launch-buttons a[href]"))
    .map((a) => a.href),
  downloads: Array.from(document.querySelectorAll(".dropdown-download-buttons a[href]"))
    .map((a) => a.getAttribute("href")),
  resources: resources,
};
"""

#: Console errors that every Jupyter Book 1.x page produces, not problems of this book:
#: sphinx-thebe adds its inline ``const THEBE_JS_URL`` script twice (it calls add_js_file
#: from a read-phase event), so the second copy throws; pydata-sphinx-theme logs an error for
#: a fresh browser profile without a stored light/dark mode; Chrome asks for /favicon.ico.
KNOWN_CONSOLE_NOISE = ("Identifier 'THEBE_JS_URL' has already been declared",
                       "Got invalid theme mode: . Resetting to auto.",
                       "/favicon.ico - Failed to load resource")
#: The schemes of network requests (others, like chrome:// or data:, never leave the browser).
NETWORK_SCHEMES = ("http", "https", "ws", "wss", "ftp")

RAW_TEX = ("$$", "\\frac", "\\(", "\\[", "\\begin{", "\\mathbb", "\\partial")


def _requests(driver) -> list[str]:
    """Network URLs the browser requested since the last call (Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if urlsplit(url).scheme in NETWORK_SCHEMES:
                urls.append(url)
    return urls


@pytest.mark.parametrize("page", _pages())
def test_page_renders_offline(page, book, server, browser):
    url = f"{server}/{page}"
    browser.get_log("performance")  # drop what earlier pages requested
    browser.get_log("browser")
    browser.get(url)
    problems = []
    # index.html redirects to the root page: check what the browser actually shows.
    page = urlsplit(browser.current_url).path.lstrip("/") or "index.html"

    state = browser.execute_script("return document.readyState")
    assert state == "complete", f"{page} did not finish loading ({state})"
    mathjax = browser.execute_async_script(WAIT_FOR_MATHJAX)
    images = browser.execute_async_script(WAIT_FOR_IMAGES)
    facts = browser.execute_script(PAGE_FACTS)
    assert facts["title"], f"{page} has no title"

    # MathJax typeset every equation.
    if facts["math"]:
        if mathjax != "ok":
            problems.append(f"MathJax did not run: {mathjax}")
        if facts["mjx"] < facts["math"]:
            problems.append(f"{facts['math']} math elements but {facts['mjx']} typeset")
        if facts["merror"]:
            problems.append(f"{facts['merror']} MathJax errors (red TeX) on the page")
    for raw in RAW_TEX:
        if raw in facts["text"]:
            i = facts["text"].index(raw)
            problems.append(f"raw TeX {raw!r} in the visible text: "
                            f"...{facts['text'][max(0, i - 60):i + 60]!r}...")

    # Every image loaded.
    for img in images:
        if not img["complete"] or img["width"] == 0:
            problems.append(f"image did not load: {img['src']}")

    # Launch buttons on notebook pages where the course is published, pointing at its
    # repository; none before (no button pointing nowhere). The download button always.
    if _is_notebook_page(page):
        expected = _expected_launch_buttons(page)
        if set(facts["launch"]) != expected:
            problems.append(f"launch buttons {sorted(facts['launch'])}, expected "
                            f"{sorted(expected)} (repository.url in _config.yml)")
        if not any(h.endswith(".ipynb") for h in facts["downloads"]):
            problems.append("no .ipynb download button")

    # Internal links, including those added by JavaScript, resolve.
    for href in sorted(set(facts["links"])):
        if problem := check_book.check_link(HTML, HTML / page, href):
            problems.append(f"broken link {problem}")
    for download in facts["downloads"]:
        if not download.startswith("#") and not check_book.is_external(download):
            target, _ = check_book.resolve(HTML, HTML / page, download)
            if target is None or not target.is_file():
                problems.append(f"download button points at a missing file: {download}")

    # Nothing from outside the book is needed to render the page.
    for tag, src in facts["resources"]:
        if check_book.is_external(src):
            problems.append(f"<{tag}> loads {src} from outside the book")
    for requested in _requests(browser):
        if check_book.is_external(requested):
            problems.append(f"the browser requested {requested}")

    # No JavaScript errors.
    for entry in browser.get_log("browser"):
        if entry["level"] == "SEVERE" and not any(n in entry["message"]
                                                  for n in KNOWN_CONSOLE_NOISE):
            problems.append(f"console error: {entry['message'][:300]}")

    if page.startswith("chapters/") or page == "intro.html":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / (page.replace("/", "__")[:-5] + ".png")))

    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def test_link_checker_passes(built):
    """scripts/check_book.py on the whole build: no broken link, nothing loaded from outside."""
    problems, _ = check_book.check(built)
    assert not problems, "\n".join(problems)


# Accessibility --------------------------------------------------------------------------------
#: axe-core's rules for WCAG 2.0 levels A and AA, run on every page in both colour schemes.
AXE_TAGS = ["wcag2a", "wcag2aa"]
AXE_FAILING = ("serious", "critical")
#: Serious or critical violations that come from the theme and cannot be fixed in this book:
#: rule id -> (a fragment of the offending element's CSS selector, the reason). Keep it empty
#: unless a violation really is out of reach.
AXE_ALLOWED: dict[str, tuple[str, str]] = {}
#: pydata-sphinx-theme's colour schemes: it reads localStorage "mode" and sets data-theme.
SCHEMES = ("light", "dark")
#: Where the per-page, per-scheme counts of axe's findings go (all impacts, for the record).
AXE_REPORT = Path(os.environ.get("AXE_REPORT") or ROOT / "_build" / "axe-report.json")

SET_SCHEME = """
localStorage.setItem("mode", arguments[0]);
localStorage.setItem("theme", arguments[0]);
"""

RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]})
  .then((r) => done({version: axe.version, violations: r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 160),
                                  summary: (n.failureSummary || "").slice(0, 300)}))}))}),
        (err) => done({error: String(err)}));
"""


fetch_npm = load_script("fetch_npm")


@pytest.fixture(scope="module")
def axe(book):
    """axe-core's script (npm's axe-core, pinned in scripts/fetch_npm.py, fetched on first use)."""
    try:
        return (fetch_npm.fetch("axe-core") / "axe.min.js").read_text(encoding="utf-8")
    except OSError as err:
        pytest.fail(f"no axe-core for the accessibility check: {err}")


@pytest.fixture(scope="module")
def axe_report():
    """Every page's axe findings by scheme; written to AXE_REPORT at the end of the module."""
    report: dict = {}
    yield report
    if report:
        AXE_REPORT.parent.mkdir(parents=True, exist_ok=True)
        AXE_REPORT.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")


def allowed(rule: str, target: str) -> bool:
    return rule in AXE_ALLOWED and AXE_ALLOWED[rule][0] in target


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("page", _pages())
def test_page_is_accessible(page, scheme, axe, server, browser, axe_report):
    """No serious or critical axe-core violation (WCAG 2 A and AA), in either colour scheme."""
    url = f"{server}/{page}"
    browser.get(url)
    browser.execute_script(SET_SCHEME, scheme)
    browser.get(url)  # the theme reads the scheme as the page loads
    theme = browser.execute_script("return document.documentElement.dataset.theme")
    assert theme == scheme, f"{page}: the theme shows {theme!r}, not {scheme!r}"
    browser.execute_async_script(WAIT_FOR_MATHJAX)
    browser.execute_async_script(WAIT_FOR_IMAGES)
    browser.execute_script(axe)
    result = browser.execute_async_script(RUN_AXE, AXE_TAGS)
    assert "error" not in result, f"{page}: axe-core failed: {result.get('error')}"
    axe_report.setdefault(page, {})[scheme] = [
        {"rule": v["id"], "impact": v["impact"], "nodes": len(v["nodes"]),
         "targets": [n["target"] for n in v["nodes"]]} for v in result["violations"]]
    problems = [f"{v['impact']} {v['id']} ({v['help']}): {n['target']}\n      {n['html']}\n"
                f"      {n['summary']}"
                for v in result["violations"] if v["impact"] in AXE_FAILING
                for n in v["nodes"] if not allowed(v["id"], n["target"])]
    assert not problems, f"{page} ({scheme} scheme, axe-core {result['version']}):\n  " + \
        "\n  ".join(problems)


def test_figures_have_alt_text_numbers_and_references(built):
    """Every image has alt text that is not a file name; every figure has an id, a number
    and a caption, and some page refers to it by its number ({numref})."""
    from bs4 import BeautifulSoup

    from course_lib.figures import looks_like_file_name

    problems, figures, referenced = [], {}, set()
    for path in check_book.html_pages(built):
        page = path.relative_to(built).as_posix()
        soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        main = soup.find("main") or soup
        for img in main.find_all("img"):
            alt = (img.get("alt") or "").strip()
            if not alt or looks_like_file_name(alt):
                problems.append(f"{page}: <img src={img.get('src')!r}> has alt text {alt!r}")
        for fig in main.find_all("figure"):
            number = fig.select_one("figcaption .caption-number")
            text = fig.select_one("figcaption .caption-text")
            if not fig.get("id") or number is None or text is None:
                problems.append(f"{page}: a figure without an id, a number or a caption: "
                                f"{str(fig)[:200]}")
            else:
                figures[fig["id"]] = f"{page} ({number.get_text(strip=True)})"
        for a in main.select("a.reference.internal"):
            if a.select_one(".std-numref") and "#" in a.get("href", ""):
                referenced.add(a["href"].rsplit("#", 1)[1])
    assert figures, "no figures found in the built book"
    problems += [f"{where}: figure #{fid} is never referred to by number"
                 for fid, where in sorted(figures.items()) if fid not in referenced]
    assert not problems, "\n".join(problems)
