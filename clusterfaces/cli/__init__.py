"""Front end: the command line (typer + rich). Imports the library; nothing imports it."""
