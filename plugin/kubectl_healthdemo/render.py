"""The timeline drawn with rich: a header (where the HealthDemo stands, its probe math) and one
table row per moment. `row_line` is the same row as one line, for `watch` into a pipe."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from kubectl_healthdemo.timeline import Kind, Row, Summary, Timeline

GLYPHS: dict[Kind, tuple[str, str]] = {
    "created": ("●", "dim"),
    "scheduled": ("·", "dim"),
    "started": ("▶", "blue"),
    "failure": ("✗", "red"),
    "forgiven": ("↷", "yellow"),
    "kill": ("✖", "bold red"),
    "backoff": ("⏸", "yellow"),
    "restarted": ("▶", "blue"),
    "recorded": ("↻", "cyan"),
    "not-ready": ("○", "yellow"),
    "ready": ("✓", "bold green"),
    "warning": ("!", "yellow"),
    "info": ("·", "dim"),
}


def clock(at: datetime, *, with_date: bool = False) -> str:
    """Local wall-clock time, as the user's terminal shows it."""
    return at.astimezone().strftime("%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def delta(seconds: float) -> str:
    """Time since the previous row: +2.0s, +12s, +3m12s, +2h05m. Never negative: within one
    second rows go in story order, and Event times have whole seconds only."""
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"+{seconds:.1f}s"
    if seconds < 60:
        return f"+{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"+{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"+{hours}h{minutes:02d}m"


def seconds(value: float | None, *, exact: bool = True) -> str:
    if value is None:
        return ""
    return f"{value:.1f} s" if exact else f"{value:g} s"


def header(summary: Summary) -> RenderableType:
    title = Text.assemble(
        ("HealthDemo ", "bold"),
        (f"{summary.namespace}/{summary.name}", "bold cyan"),
        ("  ·  Pod ", "dim"),
        (summary.pod or "none yet", "bold" if summary.pod else "yellow"),
        ("  ·  ", "dim"),
        (summary.phase or "no status yet", _phase_style(summary.phase)),
    )
    if summary.ready is not None:
        title.append(
            ", ready" if summary.ready else ", not ready", "green" if summary.ready else "yellow"
        )
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(summary.reasons.items()))
    counts = Text.assemble(
        ("restarts ", "dim"),
        (str(summary.restarts), "bold"),
        (f" ({reasons})" if reasons else "", "dim"),
        ("  ·  liveness failures ", "dim"),
        (str(summary.probe_failures), "bold"),
    )
    if summary.readiness_failures:
        counts.append_text(
            Text.assemble(("  ·  readiness failures ", "dim"), str(summary.readiness_failures))
        )
    if summary.startup_failures:
        counts.append_text(
            Text.assemble(("  ·  startup failures ", "dim"), str(summary.startup_failures))
        )
    if summary.out_of_service:
        counts.append_text(Text.assemble(("  ·  ", "dim"), summary.out_of_service))
    if summary.exact is not None:
        counts.append("  ·  ", "dim")
        if summary.exact:
            counts.append("counts exact", "green")
        else:
            counts.append(f"counts are lower bounds: {summary.exact_detail}", "yellow")
    lines: list[RenderableType] = [title, counts]
    if summary.math:
        math = Table.grid(padding=(0, 1))
        math.add_column(style="dim", no_wrap=True)
        math.add_column(style="dim")
        for index, line in enumerate(summary.math):
            math.add_row("probe math" if index == 0 else "", line)
        lines.append(math)
    return Group(*lines)


def _phase_style(phase: str | None) -> str:
    return {
        "Running": "bold green",
        "Failing": "bold red",
        "Restarting": "bold yellow",
        "CrashLoopBackOff": "bold red",
        "ImagePullError": "bold red",
        "Invalid": "bold red",
    }.get(phase or "", "yellow")


WIDE = 120  # columns from which source and detail get columns of their own


def table(rows: Sequence[Row], *, earlier: int = 0, wide: bool = True) -> Table:
    """The rows as a table; `earlier` rows were left out above (watch, on a small terminal).
    Narrower than WIDE, the source and detail go on a second line under "what"."""
    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, header_style="bold dim")
    grid.add_column("time", no_wrap=True)
    if wide:
        grid.add_column("+", justify="right", no_wrap=True, style="dim")
    grid.add_column("what", no_wrap=wide, overflow="fold")
    grid.add_column("measured", justify="right", no_wrap=True)
    grid.add_column("expected", justify="right", no_wrap=True, style="dim")
    if wide:
        grid.add_column("source", no_wrap=True, style="dim")
        grid.add_column("detail", overflow="fold", style="dim")
    if earlier:
        grid.add_row("", *([""] if wide else []), Text(f"… {earlier} earlier", "dim"))
    with_date = bool(rows) and rows[0].at.astimezone().date() != rows[-1].at.astimezone().date()
    previous: Row | None = None
    for row in rows:
        glyph, style = GLYPHS[row.kind]
        what = Text.assemble((glyph + " ", style), (row.what, style if row.kind in _LOUD else ""))
        numbers = (Text(seconds(row.measured), "bold"), seconds(row.expected, exact=False))
        when = clock(row.at, with_date=with_date)
        if wide:
            step = "" if previous is None else delta((row.at - previous.at).total_seconds())
            grid.add_row(when, step, what, *numbers, row.source, row.detail)
        else:
            told = f"{row.source}: {row.detail}" if row.detail else row.source
            what.append_text(Text(f"\n  {told}", "dim"))
            grid.add_row(when, what, *numbers)
        previous = row
    return grid


_LOUD: frozenset[Kind] = frozenset({"kill", "ready", "failure"})


class Drawn:
    """A timeline as rich draws it, laid out for the width it is given."""

    def __init__(self, timeline: Timeline, limit: int | None = None) -> None:
        self.timeline, self.limit = timeline, limit

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = self.timeline.rows
        earlier = 0
        if self.limit is not None and len(rows) > self.limit:
            earlier = len(rows) - self.limit
            rows = rows[earlier:]
        yield header(self.timeline.summary)
        if not rows:
            yield Text("\nnothing has happened yet", "dim")
            return
        yield Text("")
        yield table(rows, earlier=earlier, wide=options.max_width >= WIDE)


def render(timeline: Timeline, *, limit: int | None = None) -> RenderableType:
    """Header and table; with `limit`, only the newest `limit` rows."""
    return Drawn(timeline, limit)


def row_line(row: Row, previous: Row | None) -> Text:
    """One row as one line with fixed columns, for output that is not a terminal."""
    glyph, style = GLYPHS[row.kind]
    step = "" if previous is None else delta((row.at - previous.at).total_seconds())
    numbers = ""
    if row.measured is not None:
        numbers = f"measured {seconds(row.measured)}"
        if row.expected is not None:
            numbers += f", expected {seconds(row.expected, exact=False)}"
    return Text.assemble(
        (clock(row.at), ""),
        (f" {step:>8}  ", "dim"),
        (f"{glyph} {row.what:<28}", style),
        (f" {numbers:<34}", "bold"),
        (f" {row.source:<20}", "dim"),
        (f" {row.detail}", "dim"),
    )


def summary_line(summary: Summary) -> Text:
    """Where the HealthDemo stands, in one line (watch into a pipe prints it on each change)."""
    ready = "" if summary.ready is None else (", ready" if summary.ready else ", not ready")
    exact = {None: "", True: ", counts exact", False: ", counts are lower bounds"}[summary.exact]
    return Text(
        f"== {summary.namespace}/{summary.name}: {summary.phase or 'no status yet'}{ready}, "
        f"restarts {summary.restarts}, liveness failures {summary.probe_failures}{exact}",
        "bold",
    )
