"""Server-rendered SVG charts for the back-office (no JavaScript, works offline).

Every label is escaped; the functions return markup ready for `{{ chart }}`.
"""

import datetime
from dataclasses import dataclass

from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#1f6feb", "#15803d", "#b45309", "#7c3aed", "#0e7490", "#be185d", "#6b7280", "#b91c1c", "#4d7c0f"]


@dataclass
class Series:
    label: str
    color: str
    values: list[int]


def _legend(series: list[Series], y: int, width: int) -> list[str]:
    parts, x = [], 0
    for s in series:
        parts.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{x + 14}" y="{y + 9}" class="legend">{escape(s.label)}</text>'
        )
        x += 24 + 7 * len(s.label)
        if x > width - 80:
            y, x = y + 16, 0
    return parts


def stacked_bars(
    *, days: list[datetime.date], series: list[Series], title: str, width: int = 720, height: int = 220
) -> SafeString:
    """Stacked vertical bars, one per day."""
    n = max(1, len(days))
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    top = max([*totals, 1])
    plot_h, left, bottom = height - 40, 36, 22
    bar_w = (width - left) / n
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height + 40}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="10" class="axis">{intcomma(top)}</text>',
        f'<line x1="{left}" y1="{plot_h}" x2="{width}" y2="{plot_h}" class="axis-line"/>',
    ]
    for i, day in enumerate(days):
        y = plot_h
        x = left + i * bar_w + 1
        for s in series:
            v = s.values[i]
            if not v:
                continue
            h = (plot_h - 14) * v / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" fill="{s.color}">'
                f"<title>{day:%d/%m} — {escape(s.label)} : {intcomma(v)}</title></rect>"
            )
        if n <= 14 or i % max(1, n // 10) == 0:
            parts.append(f'<text x="{x:.1f}" y="{plot_h + 14}" class="axis">{day:%d/%m}</text>')
    parts += _legend(series, plot_h + bottom + 4, width)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (labels escaped above)


def _label(label: str, size: int) -> str:
    """A label that fits its column: cut with « … », the whole label in its tooltip."""
    if len(label) <= size:
        return escape(label)
    return f"<title>{escape(label)}</title>{escape(label[: size - 1].rstrip())}…"


def horizontal_bars(
    *, items: list[tuple[str, int]], title: str, width: int = 480, color: str = PALETTE[0], max_items: int = 8
) -> SafeString:
    """Horizontal bars for a ranking (sources, providers, forms); the tail is grouped in « Autres »."""
    items = sorted(items, key=lambda t: -t[1])
    if len(items) > max_items:
        items = [*items[: max_items - 1], ("Autres", sum(v for _, v in items[max_items - 1 :]))]
    top = max([v for _, v in items] + [1])
    row_h, label_w = 22, 160
    height = max(1, len(items)) * row_h + 4
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if not items:
        parts.append('<text x="0" y="16" class="axis">Aucune donnée</text>')
    for i, (label, value) in enumerate(items):
        y = i * row_h + 2
        w = (width - label_w - 50) * value / top
        parts.append(
            f'<text x="0" y="{y + 14}" class="label">{_label(label, 26)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{color}">'
            f"<title>{escape(label)} : {intcomma(value)}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" class="value">{intcomma(value)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (labels escaped above)


def fill_bars(*, items: list[tuple[str, int, int, bool]], title: str, width: int = 480) -> SafeString:
    """Commande fill of the week: (label, attributed, quota, open) → a gauge per commande."""
    row_h, label_w = 24, 190
    height = max(1, len(items)) * row_h + 4
    gauge_w = width - label_w - 70
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if not items:
        parts.append('<text x="0" y="16" class="axis">Aucune commande</text>')
    for i, (label, fill, quota, is_open) in enumerate(items):
        y = i * row_h + 2
        ratio = min(1.0, fill / quota) if quota else 0
        color = PALETTE[1] if is_open else PALETTE[6]
        if is_open and ratio >= 0.9:
            color = PALETTE[2]
        parts.append(
            f'<text x="0" y="{y + 15}" class="label">{_label(label, 30)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{gauge_w}" height="{row_h - 10}" class="gauge-bg"/>'
            f'<rect x="{label_w}" y="{y + 4}" width="{gauge_w * ratio:.1f}" height="{row_h - 10}" fill="{color}">'
            f"<title>{escape(label)} : {intcomma(fill)}/{intcomma(quota)}</title></rect>"
            f'<text x="{label_w + gauge_w + 6}" y="{y + 15}" class="value">{intcomma(fill)}/{intcomma(quota)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (labels escaped above)
