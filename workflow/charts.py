"""Server-side SVG charts: horizontal bars and stacked bars, readable on screen and on a black-and-white print.

Every text (labels, titles, legends) is escaped, so a school called ``<script>`` or ``A & "B"`` shows as
text. Every bar carries its number as text, an axis gives the scale, and the series of a stacked bar differ
by hatching as well as by colour, so a printed page needs no colours to be read. The functions take plain
numbers and return markup; they know nothing of routes or schools.
"""
import math
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
ROW = 24
BAR = 16
TOP = 8
AXIS = 34
CHAR = 6.6  # average width of a 12px sans-serif character, to size the label column
FONT = "font-family=\"Helvetica, Arial, sans-serif\""

# Fill patterns per series index: solid, diagonal, dots, cross-hatch, horizontal, vertical.
PATTERNS = ["solid", "diagonal", "dots", "cross", "horizontal", "vertical"]


@dataclass(frozen=True)
class Series:
    """One part of a stacked bar: its key in the rows' values, its legend label and colour."""

    key: str
    label: str
    color: str


def nice_ticks(maximum, count=5):
    """Return round axis values from 0 up to at least ``maximum`` (steps of 1, 2 or 5 × 10^k)."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1) if float(maximum).is_integer() else step
    top = math.ceil(maximum / step) * step
    ticks, value = [], 0
    while value <= top + step / 2:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _number(value):
    """"12", "66,7": whole numbers without a fraction, others with a decimal comma."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}".replace(".", ",")


def _label_width(labels):
    longest = max((len(str(label)) for label in labels), default=4)
    return int(min(max(longest * CHAR + 10, 80), 250))


def _clip(label, width):
    """Shorten a label to fit the label column; the full text stays in the row's <title>."""
    text = str(label)
    fits = max(int((width - 10) / CHAR), 4)
    return text if len(text) <= fits else text[: fits - 1] + "…"


def _pattern_defs(prefix, series):
    """SVG <pattern>s drawing each series' colour with its own hatching."""
    parts = ["<defs>"]
    for index, item in enumerate(series):
        kind = PATTERNS[index % len(PATTERNS)]
        pid = f"{prefix}-p{index}"
        color = escape(item.color)
        parts.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse">'
                     f'<rect width="6" height="6" fill="{color}"/>')
        stroke = 'stroke="#000" stroke-opacity="0.55" stroke-width="1"'
        if kind == "diagonal":
            parts.append(f'<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" {stroke}/>')
        elif kind == "dots":
            parts.append('<circle cx="3" cy="3" r="1.2" fill="#000" fill-opacity="0.6"/>')
        elif kind == "cross":
            parts.append(f'<path d="M0,0 l6,6 M6,0 l-6,6" {stroke}/>')
        elif kind == "horizontal":
            parts.append(f'<path d="M0,3 h6" {stroke}/>')
        elif kind == "vertical":
            parts.append(f'<path d="M3,0 v6" {stroke}/>')
        parts.append("</pattern>")
    parts.append("</defs>")
    return "".join(parts)


def _open(chart_id, title, height, description=""):
    title_id = f"{chart_id}-title"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img" '
            f'aria-labelledby="{escape(title_id)}" viewBox="0 0 {WIDTH} {height}" width="100%" '
            f'style="max-width: {WIDTH}px" {FONT} font-size="12">'
            f'<title id="{escape(title_id)}">{escape(title)}</title>'
            + (f"<desc>{escape(description)}</desc>" if description else ""))


def _axis(x0, span, top, ticks, maximum, suffix=""):
    """Vertical grid lines with their values under the bars."""
    parts = []
    for tick in ticks:
        x = x0 + span * tick / maximum
        parts.append(f'<line x1="{x:.1f}" y1="{TOP - 2}" x2="{x:.1f}" y2="{top + 4}" stroke="#adb5bd" '
                     f'stroke-width="0.5" stroke-dasharray="2,2"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + 18}" text-anchor="middle" font-size="10" fill="#333" '
                     f'class="tick">{escape(_number(tick) + suffix)}</text>')
    parts.append(f'<line x1="{x0}" y1="{top + 4}" x2="{x0 + span}" y2="{top + 4}" stroke="#333"/>')
    return "".join(parts)


def bar_chart(chart_id, title, rows, *, maximum=None, suffix="", color="#0d6efd", value_width=130,
              empty_text="—"):
    """A horizontal bar per row: rows are (label, value, text) — value None draws no bar and shows text.

    ``maximum`` fixes the scale (100 for percentages); ``suffix`` follows the axis values (" %").
    """
    rows = list(rows)
    label_w = _label_width([label for label, _, _ in rows])
    x0, span = label_w, WIDTH - label_w - value_width
    values = [value for _, value, _ in rows if value is not None]
    top_value = maximum if maximum is not None else max(values, default=0)
    ticks = nice_ticks(top_value)
    scale_max = ticks[-1] or 1
    bottom = TOP + ROW * max(len(rows), 1)
    height = bottom + AXIS
    parts = [_open(chart_id, title, height)]
    if not rows:
        parts.append(f'<text x="{x0}" y="{TOP + 14}" fill="#6c757d">{escape(empty_text)}</text>')
    for index, (label, value, text) in enumerate(rows):
        y = TOP + index * ROW
        shown = text if text is not None else _number(value)
        parts.append(f'<g class="bar"><title>{escape(label)}: {escape(shown)}</title>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 13}" text-anchor="end" class="label">'
                     f'{escape(_clip(label, label_w))}</text>')
        parts.append(f'<rect x="{x0}" y="{y}" width="{span}" height="{BAR}" fill="#f1f3f5" stroke="#ced4da" '
                     f'stroke-width="0.5"/>')
        width = span * min(value, scale_max) / scale_max if value else 0
        if width:
            parts.append(f'<rect x="{x0}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{escape(color)}" '
                         f'stroke="#000" stroke-width="0.6" data-value="{escape(_number(value))}"/>')
        parts.append(f'<text x="{x0 + span + 6}" y="{y + 13}" class="value" font-weight="bold">'
                     f'{escape(shown)}</text></g>')
    parts.append(_axis(x0, span, bottom, ticks, scale_max, suffix))
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bar_chart(chart_id, title, rows, series, *, value_width=60, empty_text="—"):
    """A stacked horizontal bar per row: rows are (label, {series key: count}); a legend names the series.

    Each segment wide enough shows its count inside; the row's total follows the bar; the legend repeats
    the totals per series. Segments differ by colour and hatching.
    """
    rows = list(rows)
    series = list(series)
    label_w = _label_width([label for label, _ in rows])
    x0, span = label_w, WIDTH - label_w - value_width
    totals = [sum(values.get(s.key, 0) or 0 for s in series) for _, values in rows]
    ticks = nice_ticks(max(totals, default=0))
    scale_max = ticks[-1] or 1
    bottom = TOP + ROW * max(len(rows), 1)
    legend_rows = math.ceil(len(series) / 3)
    height = bottom + AXIS + 20 * legend_rows + 4
    parts = [_open(chart_id, title, height), _pattern_defs(chart_id, series)]
    if not rows:
        parts.append(f'<text x="{x0}" y="{TOP + 14}" fill="#6c757d">{escape(empty_text)}</text>')
    for index, ((label, values), total) in enumerate(zip(rows, totals)):
        y = TOP + index * ROW
        summary = ", ".join(f"{s.label}: {values.get(s.key, 0) or 0}" for s in series)
        parts.append(f'<g class="bar"><title>{escape(label)} — {escape(summary)}</title>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 13}" text-anchor="end" class="label">'
                     f'{escape(_clip(label, label_w))}</text>')
        offset = float(x0)
        for number, item in enumerate(series):
            count = values.get(item.key, 0) or 0
            if not count:
                continue
            width = span * count / scale_max
            parts.append(f'<rect x="{offset:.1f}" y="{y}" width="{width:.1f}" height="{BAR}" '
                         f'fill="url(#{escape(chart_id)}-p{number})" stroke="#000" stroke-width="0.6" '
                         f'data-series="{escape(item.key)}" data-value="{count}"/>')
            if width >= 8 * len(str(count)) + 6:
                cx = offset + width / 2
                parts.append(f'<text x="{cx:.1f}" y="{y + 12}" text-anchor="middle" font-size="10" '
                             f'font-weight="bold" fill="#000" stroke="#fff" stroke-width="2.5" '
                             f'paint-order="stroke" class="segment">{count}</text>')
            offset += width
        parts.append(f'<text x="{offset + 6:.1f}" y="{y + 13}" class="value" font-weight="bold">'
                     f'{total}</text></g>')
    parts.append(_axis(x0, span, bottom, ticks, scale_max))
    legend_top = bottom + AXIS
    column = (WIDTH - 10) / 3
    for index, item in enumerate(series):
        lx = 10 + column * (index % 3)
        ly = legend_top + 20 * (index // 3)
        count = sum(values.get(item.key, 0) or 0 for _, values in rows)
        parts.append(f'<g class="legend"><rect x="{lx:.1f}" y="{ly}" width="14" height="14" '
                     f'fill="url(#{escape(chart_id)}-p{index})" stroke="#000" stroke-width="0.6"/>'
                     f'<text x="{lx + 20:.1f}" y="{ly + 11}">{escape(item.label)}: {count}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
