"""`python -m purenet`: the same command line as `purenet`."""

from purenet.cli import app

app(prog_name="purenet")
