"""The commands about recipes themselves: `recipes` (the bundled ones) and `new` (a starter).

`purenet.cli.app` registers them; `purenet run NAME` finds a bundled recipe by name through
`purenet.recipe.bundled.find_recipe`.

    purenet recipes
    purenet new digits --from mnist      (writes digits.toml to edit)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from purenet.cli.common import user_errors
from purenet.errors import PurenetError

console = Console(highlight=False, emoji=False)


def recipes_command() -> None:
    """List the bundled recipes, one line each (run one with `purenet run NAME`)."""
    from purenet.recipe.bundled import bundled_recipes, describe_recipe, recipe_command

    with user_errors():
        rows = [
            (f"purenet {recipe_command(path)} {name}", describe_recipe(path))
            for name, path in bundled_recipes().items()
        ]
    width = max(len(command) for command, _ in rows)
    for command, description in rows:
        console.print(escape(f"{command:<{width}}  {description}"), soft_wrap=True)
    console.print("[dim]purenet new MINE --from NAME writes MINE.toml, a copy to edit[/]")


def new_command(
    name: Annotated[str, typer.Argument(help="The new recipe's name; writes NAME.toml.")],
    base: Annotated[
        str, typer.Option("--from", help="The bundled recipe to start from (purenet recipes).")
    ] = "mnist",
    out: Annotated[
        Path | None, typer.Option(help="The file to write (default: NAME.toml here).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter recipe to edit, copied from a bundled one."""
    from purenet.core.atomic import write_text_atomic
    from purenet.recipe.bundled import starter_recipe

    target = out if out is not None else Path(f"{name}.toml")
    with user_errors():
        if target.exists() and not force:
            raise PurenetError(f"{target}: exists; pick another name or pass --force")
        write_text_atomic(target, starter_recipe(name, base=base))
    console.print(f"{escape(str(target))}: edit it, then: purenet run {escape(str(target))}")
