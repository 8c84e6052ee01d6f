"""The transparency report's three files, all drawn from `transparency_data()`:
`report.json` (the data as is), `report.md` (tables) and `report.html` (tables and
charts, self-contained: styles inline, charts as embedded PNG data URIs, no script and
nothing fetched when it is opened)."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["render_html", "render_markdown", "write_report"]

Table = tuple[str, list[str], list[list[Any]]]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"
    return str(value)


def _timing_rows(timing: dict[str, Any]) -> list[list[Any]]:
    rows = [
        [policy, t["count"], t["median_hours"], t["p90_hours"]]
        for policy, t in timing["by_policy"].items()
    ]
    rows.append(["all", timing["count"], timing["median_hours"], timing["p90_hours"]])
    return rows


def _tables(data: dict[str, Any]) -> list[Table]:
    n, a, d = data["notices"], data["actions"], data["decisions"]
    ap, sr, br = data["appeals"], data["second_review"], data["deadline_breaches"]
    return [
        (
            "Notices by source type and policy",
            ["source type", "policy", "items"],
            [[r["source_type"], r["policy"], r["items"]] for r in n["rows"]]
            + [["all", "", n["total"]]],
        ),
        (
            "Notices from trusted flaggers",
            ["organisation", "items"],
            [[r["organisation"], r["items"]] for r in n["trusted_flaggers"]],
        ),
        (
            "Actions by type and outcome",
            ["action", "outcome", "actions"],
            [[r["action"], r["status"], r["actions"]] for r in a["rows"]]
            + [["all", "", a["total"]]],
        ),
        (
            "Time from flag to decision (hours)",
            ["policy", "decided", "median", "p90"],
            _timing_rows(data["time_to_decision"]),
        ),
        (
            "Time from flag to action done (hours)",
            ["policy", "actions done", "median", "p90"],
            _timing_rows(data["time_to_action"]),
        ),
        (
            "Automated and human decisions",
            ["policy", "automated", "human"],
            [[r["policy"], r["automated"], r["human"]] for r in d["rows"]]
            + [["all", d["automated"], d["human"]]],
        ),
        (
            "Appeals",
            ["policy", "received", "overturned", "upheld", "open"],
            [
                [r["policy"], r["received"], r["overturned"], r["upheld"], r["still_open"]]
                for r in ap["rows"]
            ]
            + [["all", ap["received"], ap["overturned"], ap["upheld"], ap["still_open"]]],
        ),
        (
            "Second-review agreement",
            ["policy", "reviewed", "agreed", "agreement"],
            [[r["policy"], r["reviewed"], r["agreed"], r["agreement"]] for r in sr["rows"]]
            + [["all", sr["reviewed"], sr["agreed"], sr["agreement"]]],
        ),
        (
            "Deadline breaches",
            ["policy", "items", "breached"],
            [[r["policy"], r["items"], r["breached"]] for r in br["rows"]]
            + [["all", br["items"], br["breached"]]],
        ),
    ]


def _heading(data: dict[str, Any]) -> tuple[str, str]:
    p = data["period"]
    return (
        f"Transparency report {p['name']}",
        f"Period {p['start']} to {p['end']} (end excluded); figures as of {p['cutoff']}.",
    )


def render_markdown(data: dict[str, Any]) -> str:
    """`report.md`: one table per figure."""
    title, period = _heading(data)
    lines = [f"# {title}", "", period, ""]
    for name, header, rows in _tables(data):
        lines += [f"## {name}", ""]
        if not rows:
            lines += ["None in this period.", ""]
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(" --- " for _ in header) + "|")
        for row in rows:
            cells = [_fmt(v).replace("|", "\\|") for v in row]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _chart(
    title: str, categories: Sequence[str], series: Mapping[str, Sequence[float]], ylabel: str
) -> str:
    """A grouped bar chart as a PNG data URI (matplotlib's object API: no global state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 3.2), dpi=100, layout="constrained")
    ax = fig.subplots()
    count = max(len(series), 1)
    width = 0.8 / count
    for index, (name, values) in enumerate(series.items()):
        xs = [i + (index - (count - 1) / 2) * width for i in range(len(categories))]
        ax.bar(xs, list(values), width=width, label=name)
    ax.set_xticks(range(len(categories)), list(categories), rotation=20, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=8)
    if len(series) > 1:
        ax.legend(fontsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _charts(data: dict[str, Any]) -> list[tuple[str, str]]:
    charts: list[tuple[str, str]] = []
    by_type = data["notices"]["by_source_type"]
    if by_type:
        charts.append(
            (
                "Notices by source type",
                _chart(
                    "Notices by source type",
                    list(by_type),
                    {"items": list(by_type.values())},
                    "items",
                ),
            )
        )
    actions = data["actions"]["rows"]
    if actions:
        kinds = sorted({r["action"] for r in actions})
        states = sorted({r["status"] for r in actions})
        counts = {(r["action"], r["status"]): r["actions"] for r in actions}
        series = {s: [counts.get((k, s), 0) for k in kinds] for s in states}
        charts.append(
            (
                "Actions by type and outcome",
                _chart("Actions by type and outcome", kinds, series, "actions"),
            )
        )
    decisions = data["decisions"]["rows"]
    if decisions:
        policies = [r["policy"] for r in decisions]
        series = {
            "automated": [r["automated"] for r in decisions],
            "human": [r["human"] for r in decisions],
        }
        charts.append(
            ("Automated and human decisions", _chart("Decisions", policies, series, "decisions"))
        )
    timing = data["time_to_decision"]["by_policy"]
    if timing:
        charts.append(
            (
                "Median hours from flag to decision",
                _chart(
                    "Median hours from flag to decision",
                    list(timing),
                    {"median": [t["median_hours"] or 0.0 for t in timing.values()]},
                    "hours",
                ),
            )
        )
    appeals = data["appeals"]["rows"]
    if appeals:
        series = {
            "received": [r["received"] for r in appeals],
            "overturned": [r["overturned"] for r in appeals],
        }
        charts.append(
            ("Appeals", _chart("Appeals", [r["policy"] for r in appeals], series, "appeals"))
        )
    reviews = data["second_review"]["rows"]
    if reviews:
        charts.append(
            (
                "Second-review agreement",
                _chart(
                    "Second-review agreement",
                    [r["policy"] for r in reviews],
                    {"agreement": [r["agreement"] or 0.0 for r in reviews]},
                    "share agreeing",
                ),
            )
        )
    breaches = data["deadline_breaches"]["rows"]
    if breaches:
        series = {
            "items": [r["items"] for r in breaches],
            "breached": [r["breached"] for r in breaches],
        }
        charts.append(
            (
                "Deadline breaches",
                _chart("Deadline breaches", [r["policy"] for r in breaches], series, "items"),
            )
        )
    return charts


_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: left; }
td.n { text-align: right; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
"""


def render_html(data: dict[str, Any]) -> str:
    """`report.html`: tables and charts, self-contained."""
    title, period = _heading(data)
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1><p>{e(period)}</p>",
    ]
    for name, header, rows in _tables(data):
        parts.append(f"<h2>{e(name)}</h2>")
        if not rows:
            parts.append("<p>None in this period.</p>")
            continue
        parts.append("<table><thead><tr>")
        parts += [f"<th>{e(h)}</th>" for h in header]
        parts.append("</tr></thead><tbody>")
        for row in rows:
            cells = [
                f'<td class="n">{e(_fmt(v))}</td>'
                if isinstance(v, int | float)
                else f"<td>{e(_fmt(v))}</td>"
                for v in row
            ]
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("<h2>Charts</h2>")
    for name, uri in _charts(data):
        parts.append(
            f'<figure><img alt="{e(name)}" src="{uri}"><figcaption>{e(name)}</figcaption></figure>'
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(data: dict[str, Any], out: Path) -> list[Path]:
    """Write `report.json`, `report.md` and `report.html` into the folder `out`
    (created if missing); returns the three paths."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "report.json": json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        "report.md": render_markdown(data),
        "report.html": render_html(data),
    }
    written = []
    for name, text in files.items():
        path = out / name
        partial = out / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
        written.append(path)
    return written
