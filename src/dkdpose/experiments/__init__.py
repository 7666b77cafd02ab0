"""Experiments: the demo and the ablation table, built on cached training runs."""
