"""The rendered book as a reader sees it: build on the ci profile, open every page in headless Chromium.

Fails on a cell error, a missing figure, a broken internal link or mathematics that MathJax did not
render; saves screenshots of the intro and one chapter under ``_build/screenshots``.  Skipped (with
the reason) when Chromium is not installed — ``.ci/run`` installs Debian's ``chromium``.
"""
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.imgs = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])


def _toc_pages() -> list[str]:
    text = (ROOT / "_toc.yml").read_text()
    return ["book/intro"] + re.findall(r"file:\s*(\S+)", text)


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")     # the console script of this environment
    cmd = [str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n",
           "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        reports = "\n".join(p.read_text()[-3000:] for p in (out / "_build" / "html" / "reports").glob("**/*.log"))
        pytest.fail(f"jupyter-book build failed (warnings are errors):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}\n"
                    f"{reports}")
    return out / "_build" / "html"


def _dom(page: Path) -> str:
    """The page's DOM after its scripts ran (MathJax typesets during the virtual time budget)."""
    proc = subprocess.run([CHROMIUM, *FLAGS, "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    return proc.stdout


def test_every_page_renders(html_dir):
    problems = []
    for doc in _toc_pages():
        page = html_dir / f"{doc}.html"
        if not page.exists():
            problems.append(f"{doc}: page missing")
            continue
        src = page.read_text()
        parser = _Links()
        parser.feed(src)
        # cell errors that slipped through (tracebacks in outputs)
        if re.search(r"Traceback \(most recent call last\)|output error|\bError\b</span>: ", src):
            problems.append(f"{doc}: a cell output shows an error")
        # figures: every chapter notebook shows at least one, and every image file exists
        if re.match(r"book/\d\d_", doc) and not parser.imgs:
            problems.append(f"{doc}: no figure")
        for s in parser.imgs:
            if not s.startswith("data:") and not (page.parent / unquote(urlparse(s).path)).exists():
                problems.append(f"{doc}: missing image {s}")
        # internal links
        for h in parser.hrefs:
            u = urlparse(h)
            if u.scheme or h.startswith("#") or h.startswith("mailto:"):
                continue
            if not (page.parent / unquote(u.path)).exists():
                problems.append(f"{doc}: broken link {h}")
        # mathematics: every page with math must show typeset MathJax output and no raw TeX errors
        if 'class="math' in src:
            dom = _dom(page)
            if "mjx-container" not in dom:
                problems.append(f"{doc}: math not rendered by MathJax")
            if "<mjx-merror" in dom or "data-mjx-error" in dom:
                problems.append(f"{doc}: MathJax reported a TeX error")
    assert not problems, "\n".join(problems)


def test_screenshots(html_dir):
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    pages = [p for p in _toc_pages() if p == "book/intro" or re.match(r"book/\d\d_", p)][:2]
    for doc in pages:
        png = shots / f"{Path(doc).name}.png"
        subprocess.run([CHROMIUM, *FLAGS, "--virtual-time-budget=20000", f"--screenshot={png}",
                        "--window-size=1200,1600", (html_dir / f"{doc}.html").as_uri()],
                       capture_output=True, timeout=120)
        assert png.exists() and png.stat().st_size > 10_000, f"no screenshot of {doc}"
