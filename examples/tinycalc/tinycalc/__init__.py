"""tinycalc: evaluate arithmetic expressions."""

from tinycalc.evaluator import evaluate

__all__ = ["evaluate"]
