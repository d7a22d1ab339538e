"""The model file: the `Model` record, exact JSON save / load / describe, and evaluation of a model
on raw inputs.
"""
