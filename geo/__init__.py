"""Geography and transport: regions as validated data, township polygons, networks and accessibility.

This package knows nothing of agents; ``sim`` builds on it.
"""
