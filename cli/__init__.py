"""Command implementations behind run.py: each loads what it needs, calls the library and prints."""
