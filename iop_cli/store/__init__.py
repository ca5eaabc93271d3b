"""The records database (SQLite): drafts, completed intakes and placements."""
