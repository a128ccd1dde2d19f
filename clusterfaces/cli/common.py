"""What every command shares: the consoles, the error handling, the common options."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from clusterfaces.errors import ClusterfacesError

if TYPE_CHECKING:
    pass

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)
DbOption = Annotated[Path | None, typer.Option(help="Database file \\[default: in the user data folder].")]
OutOption = Annotated[Path | None, typer.Option(help="People folders to update \\[default: 'people' in the "
                                                "user data folder].")]
INTERRUPTED = 130


def user_facing(command: Callable[..., None]) -> Callable[..., None]:
    """User errors become one line and exit 1; Ctrl-C says what was kept and exits 130."""

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except ClusterfacesError as error:
            errors.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            errors.print("interrupted: everything processed so far is saved; run the same command again to finish",
                         soft_wrap=True)
            raise typer.Exit(INTERRUPTED) from None

    return wrapper
