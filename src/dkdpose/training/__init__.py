"""Training: Algorithm 1 (the GAN step), the loop, losses."""
