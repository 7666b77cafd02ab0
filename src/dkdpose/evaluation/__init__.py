"""Evaluation: PCK metrics, jitter, predictions files, scoring, reports and plots."""
