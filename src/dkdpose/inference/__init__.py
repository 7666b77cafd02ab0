"""Inference: model loading, tracking windows, video input/output, drawing, predict."""
