"""Dataset readers, clip sampling, transforms and the heatmap codec."""
