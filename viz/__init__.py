"""Maps, charts and reports (matplotlib); the Solara page lives in viz/app.py."""
