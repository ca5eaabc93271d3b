"""Deciding: the decision policy written once, the engine (one person), and the same decision as columns."""
