"""Screenshots of the built site in headless Chromium (Debian's `chromium`), for the docs.

`uv run nox -s screenshots` builds the site and runs this: it serves the build on
loopback and saves the tutorial and the feature matrix as PNG files under
`docs/images/`. Usage: `python docs/hooks/screenshots.py SITE_DIR OUT_DIR`.
"""

from __future__ import annotations

import functools
import http.server
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run")
PAGES = {
    "tutorial.png": ("tutorial/", 1600),
    "feature-matrix.png": ("providers/", None),
}
"""Each file, the page it shows, and the height it is cut to (None: the whole page)."""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        del format, args  # one line per request would drown the session's output


def main(site: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_Quiet, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        root = f"http://127.0.0.1:{server.server_address[1]}/"
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            browser = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=list(FLAGS),
                viewport={"width": 1280, "height": 900},
            )
            try:
                page = browser.new_page()
                for name, (path, height) in PAGES.items():
                    page.goto(root + path)
                    page.wait_for_load_state("networkidle")
                    if height is None:
                        page.screenshot(path=str(out / name), full_page=True)
                    else:
                        clip = {"x": 0, "y": 0, "width": 1280, "height": height}
                        page.screenshot(path=str(out / name), full_page=True, clip=clip)
                    print(f"{out / name}")  # noqa: T201 - the session says what it wrote
            finally:
                browser.close()
        server.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
