"""Recipes: the frozen schema, loading TOML/JSON with path-qualified errors, `--set` overrides,
writing TOML.
"""
