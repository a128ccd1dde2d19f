"""`clusterfaces review`: serve the review web app on 127.0.0.1 and open it in the browser."""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer
from rich.markup import escape

from clusterfaces import Library
from clusterfaces.cli.common import DbOption, OutOption, console, user_facing


@user_facing
def review(
    db: DbOption = None,
    out: OutOption = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 \\[default: 0, a free one].")] = 0,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="Open the page in the web browser.")] = True,
) -> None:
    """Look at the people and name, merge, move and correct them in the browser (a local web app)."""
    from clusterfaces.web.app import ReviewServer

    library = Library.open(db, out)
    library.current()  # a library with no finished scan says so now, not in the page
    server = ReviewServer(library, port)
    console.print(f"Reviewing {escape(str(library.database))}; open this link (it carries the access token), "
                  "Ctrl-C stops:", soft_wrap=True)
    console.print(f"  {server.url}", soft_wrap=True)
    if browser:
        webbrowser.open(server.url)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn stops gracefully, then passes Ctrl-C on
        pass
    console.print("stopped: every edit is saved")


def register(app: typer.Typer) -> None:
    app.command()(review)
