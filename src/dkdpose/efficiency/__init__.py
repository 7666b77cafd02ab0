"""Efficiency: FLOPs counting, latency measurement, the bench command."""
