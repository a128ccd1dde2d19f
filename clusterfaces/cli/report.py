"""The console side of a scan: rich progress bars while it works, and the summary at the end."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clusterfaces.library import ScanResult

STAGE_LABELS = {
    "crawl": "Finding photos",
    "model": "Loading models",
    "detect": "Detecting faces",
    "embed": "Embedding faces",
    "cluster": "Grouping people",
    "report": "Writing folders",
}
LARGEST_PEOPLE_SHOWN = 10
UNREADABLE_SHOWN = 10


def shown_path(path: object) -> str:
    """A path as the console shows it: control characters and undecodable bytes escaped, no markup."""
    text = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
    return escape(text)


class RichObserver:
    """Shows one progress bar per stage on a rich console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=False,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> RichObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for task in self.tasks.values():
            if self.progress.tasks[task].total is None:
                self.progress.update(task, total=self.progress.tasks[task].completed or 1,
                                     completed=self.progress.tasks[task].completed or 1)
        self.progress.stop()

    def _task(self, stage: str, total: int | None) -> int:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(STAGE_LABELS.get(stage, stage), total=total)
        return self.tasks[stage]

    def start(self, stage: str, total: int | None) -> None:
        for other, task in self.tasks.items():  # a new stage means the earlier ones are done
            if other != stage and other != "embed" and self.progress.tasks[task].total is None:
                done = self.progress.tasks[task].completed or 1
                self.progress.update(task, total=done, completed=done)
        task = self._task(stage, total)
        if total is not None:
            self.progress.update(task, total=total)

    def grow(self, stage: str, amount: int) -> None:
        task = self._task(stage, 0)
        current = self.progress.tasks[task].total or 0
        self.progress.update(task, total=current + amount)

    def advance(self, stage: str, amount: int = 1) -> None:
        self.progress.advance(self._task(stage, None), amount)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def print_summary(console: Console, result: ScanResult) -> None:
    """The end-of-scan summary: photos, faces, people, problems, timings and where to look."""
    unreadable = len(result.unreadable)
    console.print()
    console.rule("[bold]clusterfaces summary")
    counts = Table.grid(padding=(0, 2))
    counts.add_column(justify="right", style="bold")
    counts.add_column()
    reused = f", {result.photos_reused} moved or duplicate (faces reused)" if result.photos_reused else ""
    if result.photos_retagged:
        reused += f", {result.photos_retagged} with new tags or dates only (faces kept)"
    if result.photos_redone:
        reused += f", {result.photos_redone} edited (detected again, names kept by face)"
    detected = result.photos_processed - result.photos_reused - result.photos_retagged
    counts.add_row(str(result.photos_seen), f"photos seen ({detected} new or changed{reused}, "
                                            f"{result.photos_seen - result.photos_processed} unchanged)")
    if result.photos_returned:
        counts.add_row(str(result.photos_returned), "missing photos back (faces, people and names as before)")
    if result.photos_missing:
        counts.add_row(str(result.photos_missing), "photos missing from disk: kept with their faces and names until "
                                                   "they are back (scan --forget-missing forgets them)")
    if result.photos_removed:
        counts.add_row(str(result.photos_removed), "photos gone from disk, forgotten (--forget-missing)")
    counts.add_row(str(unreadable), "photos skipped as unreadable" + (" (below)" if unreadable else ""))
    counts.add_row(str(result.faces_total), f"faces ({result.faces_new} new; {result.faces_filtered} too small or "
                                            "uncertain to group)")
    counts.add_row(str(len(result.people)), f"people ({result.faces_clustered} faces grouped; "
                                            f"{len(result.unclustered_photos)} photos with ungrouped faces)")
    console.print(counts)
    how = "all faces re-clustered" if result.reclustered else "new faces matched to known people (--recluster: all)"
    console.print(f"model [bold]{result.model}[/], detector [bold]{result.detector}[/]; {how}")

    if result.people:
        table = Table(title="Largest people", title_justify="left")
        table.add_column("person")
        table.add_column("faces", justify="right")
        table.add_column("photos", justify="right")
        for entry in result.people[:LARGEST_PEOPLE_SHOWN]:
            label = entry.person.label + (" (ignored)" if entry.person.ignored else "")
            table.add_row(escape(label), str(len(entry.person.face_ids)), str(len(entry.photos)))
        if len(result.people) > LARGEST_PEOPLE_SHOWN:
            table.caption = f"and {len(result.people) - LARGEST_PEOPLE_SHOWN} more"
        console.print(table)

    if result.missing_people:
        shown = ", ".join(escape(p.label) + (" (ignored)" if p.ignored else "")
                          for p in result.missing_people[:LARGEST_PEOPLE_SHOWN])
        more = f" and {len(result.missing_people) - LARGEST_PEOPLE_SHOWN} more" \
            if len(result.missing_people) > LARGEST_PEOPLE_SHOWN else ""
        console.print(f"[yellow]Only in missing photos[/] (kept, no folder until their photos are back): {shown}{more}",
                      soft_wrap=True)
    for _root, reason in result.unavailable_roots:
        console.print(f"[yellow]Left alone:[/] {escape(reason)}", soft_wrap=True)
    if result.unreadable:
        reasons = Counter(photo.reason for photo in result.unreadable)
        console.print(f"[yellow]Unreadable photos[/] ({unreadable}; retried when the file changes):")
        for photo in result.unreadable[:UNREADABLE_SHOWN]:
            console.print(f"  {shown_path(photo.path)}: {escape(photo.reason)}")
        if unreadable > UNREADABLE_SHOWN:
            common = ", ".join(f"{n} x {escape(r)}" for r, n in reasons.most_common(3))
            console.print(f"  ... and {unreadable - UNREADABLE_SHOWN} more ({common})")
    if result.skipped:
        console.print(f"[yellow]Skipped[/] {len(result.skipped)} folders or links:")
        for item in result.skipped[:UNREADABLE_SHOWN]:
            console.print(f"  {shown_path(item.path)}: {escape(item.reason)}")

    timing = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in result.seconds.items())
    console.print(f"[dim]time: {timing}[/]")
    console.print(f"People folders: [bold]{shown_path(result.output)}[/]")
    console.print(f"[dim]Database: {shown_path(result.database)}[/]")
