"""The ci-profile book (and the reader's book, where ``$MISGEN_READER_BOOK`` names one: the
``book`` fixture of ``conftest.py``) as a reader sees it: headless Chromium, driven by Selenium
through the system's ``chromedriver`` (Debian: ``apt-get install chromium chromium-driver``;
nothing is downloaded), opens every page of the table of contents from ``file://`` and checks:

* no console error and no failed request (Chrome's browser and performance logs);
* MathJax typeset every formula: no ``.math`` element without its ``mjx-container`` and no raw TeX
  (``$...$``, ``\\(``, ``\\[``, ``\\begin{``) left in the text outside code;
* every image loaded (``naturalWidth > 0``);
* every in-book link resolves: its file exists and its ``#fragment`` is an id of that page;
* chapters carry the re-run box and download links (source ``.md`` and executed ``.ipynb``);
* the offline search finds a term of chapter 03 ("kernel") and links to that chapter;
* each chapter's first screen (a 1280 x 900 window, as a reader opens it) is not blank and shows
  the chapter's "At a glance" box with its glued numbers (screenshots ``first_screen_<chapter>.png``),
  and every figure is shown large enough that the figures' base fonts (``misgen_lib.plots.FONTS``)
  read as at least ``plots.MIN_PT``.

A screenshot of each page is kept under ``book/_build/screenshots/`` of the repository (or
``$MISGEN_SCREENSHOT_DIR``), a CI artifact. Without Chromium the test is skipped, except where
``MISGEN_REQUIRE_BROWSER`` is set (``.ci/run`` sets it and installs Chromium): there it fails.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import REPO
from misgen_lib.plots import FONTS, MIN_PT
from test_book import toc_docnames

pytestmark = [pytest.mark.book, pytest.mark.browser]

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(os.environ.get("MISGEN_SCREENSHOT_DIR") or REPO / "book" / "_build" / "screenshots")
RAW_TEX = re.compile(r"\\\(|\\\[|\\begin\{|\$\$|\$[^$\s][^$\n]*\$")
PAGE_LOAD_S = 60

#: what the page reports about itself once MathJax is done (runs in the browser)
PAGE_REPORT = """
const done = arguments[arguments.length - 1];
const report = () => {
  const main = document.querySelector('main') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('pre, code, mjx-container, script, style, .highlight').forEach(e => e.remove());
  done({
    images: [...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0, i.alt]),
    untypeset: [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container'))
                 .map(e => e.textContent.slice(0, 80)),
    typeset: document.querySelectorAll('mjx-container').length,
    text: copy.innerText,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    rerun: (document.querySelector('.misgen-rerun pre') || {}).innerText || '',
  });
};
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(report, e => done({error: String(e)}));
} else { report(); }
"""


def start_chromium():
    """A headless Chromium session with its console and network logs enabled."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1400", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(PAGE_LOAD_S)
    driver.set_page_load_timeout(PAGE_LOAD_S)
    return driver


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        message = ("headless Chromium and chromedriver are needed (Debian: apt-get install chromium "
                   f"chromium-driver); found chromium={CHROMIUM}, chromedriver={CHROMEDRIVER}")
        if os.environ.get("MISGEN_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    driver = start_chromium()
    yield driver
    driver.quit()


def failed_requests(driver) -> list[str]:
    failures = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.loadingFailed" and not message["params"].get("canceled"):
            failures.append(f"{message['params'].get('errorText')} ({message['params'].get('type')})")
        elif message["method"] == "Network.responseReceived":
            response = message["params"]["response"]
            if response.get("status", 200) >= 400:
                failures.append(f"HTTP {response['status']} {response['url']}")
    return failures


class LinkChecker:
    """Whether a ``file://`` link names an existing file (and, with a fragment, an id of it)."""

    def __init__(self):
        self._ids: dict[Path, set[str]] = {}

    def problem(self, href: str) -> str | None:
        url = urlsplit(href)
        if url.scheme != "file":
            return None
        path = Path(unquote(url.path))
        if not path.exists():
            return f"link to a missing file {path}"
        if url.fragment and path.suffix == ".html":
            if path not in self._ids:
                self._ids[path] = set(re.findall(r'\sid="([^"]+)"', path.read_text()))
            if unquote(url.fragment) not in self._ids[path]:
                return f"link to a missing anchor {path.name}#{url.fragment}"
        return None


def page_problems(driver, html_dir: Path, doc: str, links: LinkChecker) -> list[str]:
    page = html_dir / f"{doc}.html"
    driver.get_log("browser"), driver.get_log("performance")  # drop earlier pages' entries
    driver.get(page.as_uri())
    report = driver.execute_async_script(PAGE_REPORT)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{doc.replace('/', '__')}.png"))
    problems = [f"MathJax: {report['error']}"] if "error" in report else []
    if "error" in report:
        return problems
    problems += [f"console {e['level']}: {e['message']}" for e in driver.get_log("browser")
                 if e["level"] == "SEVERE"]
    problems += [f"failed request: {f}" for f in failed_requests(driver)]
    problems += [f"image not loaded: {src}" for src, loaded, _ in report["images"] if not loaded]
    problems += [f"image without alt text: {src}" for src, _, alt in report["images"]
                 if not (alt or "").strip() and "_images/" in (src or "")]
    problems += [f"formula not typeset: {t!r}" for t in report["untypeset"]]
    problems += [f"raw TeX in the text: {m!r}" for m in RAW_TEX.findall(report["text"])]
    problems += [p for p in map(links.problem, set(report["links"])) if p]
    if re.match(r"executed/\d\d_", doc):
        downloads = [h for h in report["links"] if "/_downloads/" in h]
        if not (any(h.endswith(".md") for h in downloads) and any(h.endswith(".ipynb") for h in downloads)):
            problems.append(f"no download links for the .md source and the .ipynb: {downloads}")
        if not report["rerun"].startswith("misgen run "):
            problems.append("no re-run box (misgen run command)")
    return [f"{doc}: {p}" for p in problems]


def check_pages(driver, project) -> list[str]:
    """Every problem of every toc page (empty when the book reads well)."""
    links = LinkChecker()
    problems = []
    for doc in toc_docnames(project):
        problems += page_problems(driver, project.html_dir, doc, links)
    return problems


def search_hits(driver, html_dir: Path, term: str) -> list[str]:
    """Links of the offline search's results for ``term``."""
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get((html_dir / "search.html").as_uri() + f"?q={term}")
    script = "return [...document.querySelectorAll('#search-results li a')].map(a => a.href)"
    finished = ("const s = document.querySelector('#search-results'); "
                "return !!s && (s.querySelectorAll('li').length > 0 || /found|match/i.test(s.innerText))")
    WebDriverWait(driver, PAGE_LOAD_S).until(lambda d: d.execute_script(finished))
    driver.save_screenshot(str(SCREENSHOTS / f"search_{term}.png"))
    return driver.execute_script(script)


FIRST_SCREEN = (1280, 900)

#: where the chapter's "At a glance" box is on its first screen (runs in the browser)
GLANCE_REPORT = """
const box = [...document.querySelectorAll('.admonition')]
  .find(a => /At a glance/.test((a.querySelector('.admonition-title') || {}).innerText || ''));
if (!box) { return null; }
const r = box.getBoundingClientRect();
return {top: r.top, bottom: r.bottom, height: window.innerHeight, text: box.innerText};
"""


#: each chapter figure's displayed and natural width (runs in the browser)
FIGURE_WIDTHS = """
return [...document.querySelectorAll('main img')].filter(i => (i.getAttribute('src') || '').includes('_images/'))
  .map(i => [i.getAttribute('src'), i.clientWidth, i.naturalWidth]);
"""


def blank(png: Path) -> bool:
    """Whether a screenshot is (nearly) one colour."""
    from PIL import Image
    with Image.open(png) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
    return colours is not None and len(colours) < 8


def first_screen_problems(driver, html_dir: Path, doc: str) -> list[str]:
    """A chapter's first screen: saved as ``first_screen_<chapter>.png``, not blank, with the top
    of the "At a glance" box on it and numbers in the box (glued values, rendered)."""
    driver.set_window_size(*FIRST_SCREEN)
    try:
        driver.get((html_dir / f"{doc}.html").as_uri())
        shot = SCREENSHOTS / f"first_screen_{Path(doc).name}.png"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
        box = driver.execute_script(GLANCE_REPORT)
        shown = driver.execute_script(FIGURE_WIDTHS)
    finally:
        driver.set_window_size(1280, 1400)
    problems = ["the first screen is blank"] if blank(shot) else []
    if box is None:
        problems.append("no 'At a glance' box")
    else:
        if not 0 <= box["top"] < box["height"] - 100:
            problems.append(f"the 'At a glance' box starts at {box['top']:.0f} px, below the first screen")
        numbers = re.sub(r"\bC\d\w*", "", box["text"])   # claim names are not numbers
        if not re.search(r"\d", numbers) or "glue" in box["text"]:
            problems.append(f"the 'At a glance' box shows no glued number: {box['text'][:200]!r}")
    smallest = min(v for k, v in FONTS.items() if k != "figure.titlesize")
    problems += [f"figure {src} shown at {client}/{natural} px: its {smallest} pt text reads as "
                 f"{smallest * client / natural:.1f} pt" for src, client, natural in shown
                 if natural and smallest * client / natural < MIN_PT]
    return [f"{doc}: {p}" for p in problems]


def chapter_docs(project) -> list[str]:
    return [d for d in toc_docnames(project) if re.match(r"executed/\d\d_", d)]


def test_each_chapter_opens_with_its_at_a_glance_box(book, browser):
    project = book[0]
    problems = [p for doc in chapter_docs(project) for p in first_screen_problems(browser, project.html_dir, doc)]
    assert not problems, "\n".join(problems)


def test_every_toc_page_reads_well_in_chromium(book, browser):
    project = book[0]
    problems = check_pages(browser, project)
    assert not problems, "\n".join(problems[:60])


def test_offline_search_finds_the_kernel_chapter(ci_book, browser):
    hits = search_hits(browser, ci_book[0].html_dir, "kernel")
    assert any("executed/03_kernel.html" in h for h in hits), hits
