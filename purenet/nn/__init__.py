"""The network: activations beside their derivatives, losses beside their output deltas, and the
model's pure functions.
"""
