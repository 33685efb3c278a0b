"""Take the documentation site's screenshots in headless Chromium (Playwright driving Debian's /usr/bin/chromium).

    python scripts/docs_screenshots.py [BUILT_SITE] [OUT_DIR]     # defaults: build/docs docs/screenshots

``make docs-screenshots`` builds the site first. The site is served from 127.0.0.1 on a free port (as a
reader's browser would load it, not from file://), and two pages are taken: the landing page and the how-to
guide of the report transfer. Prints each file with its size and the page's title.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# (page of the site, file name, what must be on it: a check that the right page rendered)
SHOTS = [
    ("index.html", "docs-landing.png", "TrafficStars provider for Apache Airflow"),
    ("howto/report-to-storage.html", "docs-howto-report-to-storage.png", "TrafficStarsReportToStorageOperator"),
]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def take(site: Path, out: Path) -> list[Path]:
    """Serve ``site`` on 127.0.0.1 and screenshot each page of SHOTS into ``out``; return the files."""
    from playwright.sync_api import sync_playwright

    if not (site / "index.html").is_file():
        raise SystemExit(f"{site}/index.html not found: run `make docs` first")
    out.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    files = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
            for path, name, expected in SHOTS:
                page.goto(f"{base}/{path}", wait_until="networkidle")
                text = page.inner_text("article")
                if expected not in text:
                    raise SystemExit(f"{path}: {expected!r} is not on the page")
                target = out / name
                page.screenshot(path=str(target), full_page=False)
                print(
                    f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}: "
                    f"{target.stat().st_size} bytes, {page.title()!r}"
                )
                files.append(target)
            browser.close()
    finally:
        server.shutdown()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", type=Path, default=REPO / "build" / "docs")
    parser.add_argument("out", nargs="?", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    take(args.site.resolve(), args.out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
