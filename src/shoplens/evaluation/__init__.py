"""Evaluation instruments that look at a model from outside: benchmarks on photos it was never trained on.

A room beside training (it may import data, imaging, models and inference); training and serving never
import it, so benchmark data cannot leak into training.
"""
