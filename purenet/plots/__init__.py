"""Figures only: each function takes arrays or a model and returns a matplotlib `Figure`.

Nothing here reads run folders or files (that is `purenet.run.plot`); matplotlib is imported
only when a figure is drawn (the `plot` extra).
"""
