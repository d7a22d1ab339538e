"""Foundations every stage uses: trees, atomic files, JSON I/O, the exact array codec, the
strict converter with its one error walker, and shared checks.
"""
