"""Foundations every stage uses: trees, atomic files, JSON I/O, the exact array codec and the
strict converter.
"""
