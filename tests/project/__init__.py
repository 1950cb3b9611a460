"""Checks of the project as a whole: its documents and its packaging."""
