"""Training: presets, the loop, metrics, calibration, evaluation reports."""
