"""Pages we render, opened in a real browser: Debian's chromium driven by playwright.

`make browser` installs chromium; CHURNGUARD_CHROMIUM names another binary. Chromium is started
with background networking off, because this machine's closed network refuses those connections.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path(os.environ.get("CHURNGUARD_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

# Every <svg> on the page: its size, how many marks it draws (bars, lines, points), and the boxes of
# its texts as the browser laid them out, so tests can tell a drawn chart from an empty frame and
# find texts that overlap one another or leave the chart.
_CHART_LAYOUT = """() => [...document.querySelectorAll('svg')].map(svg => {
  const frame = svg.getBoundingClientRect();
  const marks = svg.querySelectorAll('rect, polyline, path, circle');
  const drawn = [...marks].filter(m => { const b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; });
  return {
    title: (svg.querySelector('text') || {}).textContent || '',
    frame: [frame.left, frame.top, frame.right, frame.bottom],
    marks: drawn.length,
    texts: [...svg.querySelectorAll(':scope > text')].filter(t => t.textContent.trim()).map(t => {
      const b = t.getBoundingClientRect();
      return {text: t.textContent, box: [b.left, b.top, b.right, b.bottom]};
    }),
  };
})"""


@contextmanager
def chromium_page(width: int = 1000, height: int = 800) -> Iterator[Page]:
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: run `make browser` (installs Debian's chromium) "
                                "or set CHURNGUARD_CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def chart_layout(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(_CHART_LAYOUT)


def overlapping(boxes: list[tuple[str, list[float]]], slack: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes intersect by more than `slack` pixels each way."""
    pairs = []
    for i, (a, (l1, t1, r1, b1)) in enumerate(boxes):
        for b, (l2, t2, r2, b2) in boxes[i + 1:]:
            if min(r1, r2) - max(l1, l2) > slack and min(b1, b2) - max(t1, t2) > slack:
                pairs.append((a, b))
    return pairs


def outside(boxes: list[tuple[str, list[float]]], frame: list[float], slack: float = 0.5) -> list[str]:
    left, top, right, bottom = frame
    return [text for text, (l, t, r, b) in boxes
            if l < left - slack or t < top - slack or r > right + slack or b > bottom + slack]


def screenshot(html: Path, png: Path, width: int = 1000) -> None:
    with chromium_page(width=width) as page:
        page.goto(html.resolve().as_uri())
        png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(png), full_page=True)
