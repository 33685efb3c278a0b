"""Write the documentation's diagram of how a task gets its token, as SVG (no Graphviz needed).

    python scripts/diagrams.py            # rewrites docs/_static/token-cache.svg
    python scripts/diagrams.py --check    # exit 1 if the committed file differs from what this writes

tests/docs/test_docs_sources.py runs the check, so the picture never drifts from this source.
"""

from __future__ import annotations

import argparse
import sys
from html import escape
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static" / "token-cache.svg"
LINE = 17  # px per text line
FONT = "font-family='Helvetica, Arial, sans-serif' font-size='13'"

# (id, x, y, width, lines, fill): the steps a task takes, top to bottom, and where each one ends.
BOXES = [
    ("need", 30, 20, 330, ["A task calls the API: it needs a token"], "#e8eef7"),
    ("memory", 30, 90, 330, ["1. In this process's memory,", "still fresh (expires_at - margin)?"], "#ffffff"),
    (
        "variable",
        30,
        180,
        330,
        [
            "2. The Variable trafficstars_access_token_<conn>:",
            "fresh, and the same fingerprint",
            "(base URL + API key)?",
        ],
        "#ffffff",
    ),
    (
        "lease",
        30,
        290,
        330,
        [
            "3. Take the lease <cache_variable>_lease",
            "(single flight): another process renewing?",
            "wait for it, then read the Variable again",
        ],
        "#ffffff",
    ),
    (
        "exchange",
        30,
        400,
        330,
        ["4. POST /v1/auth/token with the API key", "(expires_in read from the answer)"],
        "#fff4e0",
    ),
    (
        "write",
        30,
        490,
        330,
        ["5. Write the record to the Variable,", "keep the token in memory, release the lease"],
        "#ffffff",
    ),
    (
        "use",
        430,
        180,
        250,
        [
            "Use the token:",
            "Authorization: Bearer ...",
            "(a 401: re-read the Variable,",
            "else renew once, retry once)",
        ],
        "#e6f4ea",
    ),
    (
        "budget",
        430,
        360,
        250,
        [
            "The account's call budget:",
            "rate_limit per 60 s, all workers",
            "(a Variable, batches under the",
            "lease). Token requests, retries",
            "and polls spend it too.",
        ],
        "#fdecea",
    ),
]
# (from, to, label, points): arrows as polylines through the given points.
ARROWS = [
    ("need", "memory", "", [(195, 42), (195, 90)]),
    ("memory", "use", "yes", [(360, 115), (400, 115), (400, 215), (430, 215)]),
    ("memory", "variable", "no", [(195, 130), (195, 180)]),
    ("variable", "use", "yes", [(360, 215), (430, 215)]),
    ("variable", "lease", "no", [(195, 237), (195, 290)]),
    ("lease", "use", "renewed by another", [(360, 315), (410, 315), (410, 235), (430, 235)]),
    ("lease", "exchange", "we hold it", [(195, 347), (195, 400)]),
    ("exchange", "write", "", [(195, 440), (195, 490)]),
    ("write", "use", "", [(360, 515), (700, 515), (700, 250), (680, 250)]),
    ("exchange", "budget", "1 call", [(360, 420), (430, 420)]),
]
WIDTH, HEIGHT = 720, 560


def box_height(lines: list[str]) -> int:
    return 14 + LINE * len(lines)


def render() -> str:
    """Return the SVG document (deterministic: same source, same bytes)."""
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}' "
        "role='img' aria-label='How a task gets its TrafficStars token'>",
        "<title>How a task gets its TrafficStars token, and the account's call budget</title>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' markerHeight='7' "
        "orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' fill='#333'/></marker></defs>",
        f"<rect width='{WIDTH}' height='{HEIGHT}' fill='#ffffff'/>",
    ]
    for _, x, y, w, lines, fill in BOXES:
        h = box_height(lines)
        out.append(f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='6' fill='{fill}' stroke='#333'/>")
        for i, text in enumerate(lines):
            out.append(f"<text x='{x + 10}' y='{y + 20 + i * LINE}' {FONT} fill='#111'>{escape(text)}</text>")
    for _, _, label, points in ARROWS:
        path = " ".join(f"{px},{py}" for px, py in points)
        out.append(f"<polyline points='{path}' fill='none' stroke='#333' marker-end='url(#arrow)'/>")
        if label:
            (x1, y1), (x2, y2) = points[0], points[1]
            lx, ly = (x1 + 6, (y1 + y2) // 2 + 4) if x1 == x2 else ((x1 + x2) // 2 - 14, y1 - 6)
            out.append(f"<text x='{lx}' y='{ly}' {FONT} font-style='italic' fill='#555'>{escape(label)}</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed SVG is not this output")
    args = parser.parse_args(argv)
    svg = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != svg:
            print(f"{OUT} is out of date: run python scripts/diagrams.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(svg)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
