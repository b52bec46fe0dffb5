"""Human-readable run summaries."""

from __future__ import annotations

__all__ = ["print_summary", "summary_rows"]


def summary_rows(summary) -> list[tuple[str, int]]:
    get = summary.get
    return [
        ("feeds polled", get("news.feeds/polled")),
        ("feeds failed", get("news.feeds/failed")),
        ("feeds unchanged (304)", get("news.feeds/not_modified")),
        ("feed entries", get("news.feeds/entries")),
        ("already indexed (skipped)", get("news.known/known")),
        ("failed before, retry later", get("news.known/retry_later")),
        ("new entries", get("news.known/new")),
        ("pages fetched", get("news.fetch/fetched")),
        (
            "pages archived / read from the archive",
            get("news.archive/pages_written") + get("news.archive/pages_read"),
        ),
        ("articles extracted", get("news.extract/articles")),
        ("documents written", get("news.es/written")),
        ("documents rejected", get("news.es/rejected")),
        ("replayed from an earlier run", summary.replayed),
    ]


def print_summary(summary, settings, console) -> None:
    from rich.table import Table

    table = Table(title=f"newsbeam run ({summary.seconds:.1f} s)", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in summary_rows(summary):
        table.add_row(label, str(value))
    console.print(table)
    if summary.failures_by_reason:
        failures = Table(title=f"failures (recorded in {settings.elasticsearch.failures_alias})")
        failures.add_column("stage:reason")
        failures.add_column("count", justify="right")
        for reason, count in summary.failures_by_reason.items():
            failures.add_row(reason, str(count))
        console.print(failures)
