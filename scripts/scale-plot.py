# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Draw the timeline of playbooks/scale_test.yml (scale_test_report=FILE) as an SVG.

    python scripts/scale-plot.py REPORT.json OUT.svg [TARGET]

Top: the group's average CPU (percent) and the policy's target; bottom: desired, in-service and
healthy instances. Hand-written SVG (no plotting library needed); the scale-in watch, when there
is one, continues the same time axis.
"""

from __future__ import annotations

import json
import sys
from html import escape

WIDTH, HEIGHT = 900, 520
LEFT, RIGHT, TOP = 60, 20, 40
PANEL = 190  # height of each panel
GAP = 60


def number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def rows_of(report: dict) -> list[dict]:
    rows = [dict(r, phase="out") for r in report.get("out", [])]
    offset = max((number(r["t"]) or 0 for r in rows), default=0)
    for row in report.get("in", []):
        rows.append(dict(row, t=(number(row["t"]) or 0) + offset, phase="in"))
    return rows


def polyline(points, color, step=False, dash=""):
    if not points:
        return ""
    coords = []
    for index, (x, y) in enumerate(points):
        if step and index:
            coords.append(f"{x:.1f},{points[index - 1][1]:.1f}")
        coords.append(f"{x:.1f},{y:.1f}")
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline fill="none" stroke="{color}" stroke-width="2"{extra} points="{" ".join(coords)}"/>'


def render(report: dict, target: float) -> str:
    rows = rows_of(report)
    t_max = max((number(r["t"]) or 0 for r in rows), default=1) or 1
    n_max = max([3] + [int(number(r.get(k)) or 0) for r in rows for k in ("desired", "in_service", "healthy")])
    plot_w = WIDTH - LEFT - RIGHT
    top2 = TOP + PANEL + GAP

    def x(t):
        return LEFT + plot_w * (number(t) or 0) / t_max

    def y_cpu(value):
        return TOP + PANEL * (1 - value / 100)

    def y_n(value):
        return top2 + PANEL * (1 - value / n_max)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="15">{escape(" | ".join(report.get("lines", [])[:1]))[:130]}</text>',
    ]
    for top, label in ((TOP, "group average CPU (%)"), (top2, "instances")):
        out.append(f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#999"/>')
        out.append(f'<text x="{LEFT + 4}" y="{top + 14}" fill="#333">{label}</text>')
    for value in (0, 25, 50, 75, 100):
        out.append(f'<text x="{LEFT - 8}" y="{y_cpu(value) + 4:.1f}" text-anchor="end">{value}</text>')
    for value in range(n_max + 1):
        out.append(f'<text x="{LEFT - 8}" y="{y_n(value) + 4:.1f}" text-anchor="end">{value}</text>')
    for tick in range(0, int(t_max) + 1, max(1, int(t_max // 10) or 1)):
        for bottom in (TOP + PANEL, top2 + PANEL):
            out.append(f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle">{tick}</text>')
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">seconds since the load started</text>'
    )
    out.append(
        f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y_cpu(target):.1f}" y2="{y_cpu(target):.1f}" '
        f'stroke="#d62728" stroke-dasharray="6,4"/>'
    )
    out.append(
        f'<text x="{LEFT + plot_w - 4}" y="{y_cpu(target) - 4:.1f}" text-anchor="end" '
        f'fill="#d62728">target {target:g} %</text>'
    )
    cpu = [(x(r["t"]), y_cpu(number(r["cpu"]))) for r in rows if number(r.get("cpu")) is not None]
    out.append(polyline(cpu, "#1f77b4"))
    series = (("desired", "#ff7f0e", ""), ("in_service", "#2ca02c", "4,3"), ("healthy", "#9467bd", "1,3"))
    for index, (key, color, dash) in enumerate(series):
        points = [(x(r["t"]), y_n(number(r[key]))) for r in rows if number(r.get(key)) is not None]
        out.append(polyline(points, color, step=True, dash=dash))
        out.append(f'<text x="{LEFT + 90 + index * 110}" y="{top2 + 14}" fill="{color}">{key.replace("_", " ")}</text>')
    if report.get("in"):
        boundary = x(max(number(r["t"]) or 0 for r in rows if r["phase"] == "out"))
        out.append(
            f'<line x1="{boundary:.1f}" x2="{boundary:.1f}" y1="{TOP}" y2="{top2 + PANEL}" '
            'stroke="#777" stroke-dasharray="2,3"/>'
        )
        out.append(
            f'<text x="{boundary + 4:.1f}" y="{TOP + PANEL + 30}" fill="#777">load stopped: scale-in watch</text>'
        )
    out.append("</svg>")
    return "\n".join(part for part in out if part) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        report = json.load(handle)
    target = float(argv[3]) if len(argv) > 3 else 70.0
    with open(argv[2], "w", encoding="utf-8") as handle:
        handle.write(render(report, target))
    print(f"plot: {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
