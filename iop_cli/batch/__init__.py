"""Batch scoring of intake files: the column map and the scorer."""
