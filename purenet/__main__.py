"""`python -m purenet` and the `purenet` script: the command line, with Ctrl-C during start-up
(while the modules load) ending quietly with exit code 130 instead of a traceback."""

import sys


def main() -> None:
    """Run the `purenet` command line."""
    try:
        from purenet.cli.app import app

        app(prog_name="purenet")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
