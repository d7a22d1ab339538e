"""Training: reports and options, the fused step, checkpoints and the loop that drives them."""
