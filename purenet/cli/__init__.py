"""The command line: the Typer app `purenet` (`purenet.cli.app:app`); nothing imports it."""
