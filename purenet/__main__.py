"""`python -m purenet`: the same command line as `purenet`."""

from purenet.cli.app import app

app(prog_name="purenet")
