"""Run folders: their layout, data sources, data preparation, the runner and reading and plotting
finished runs.
"""
