"""Data in: file formats (IDX, CSV, NPY, pictures), `Dataset` and its pure steps, the data-set
registry and fetch.
"""
