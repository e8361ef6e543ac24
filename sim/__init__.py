"""The model: households as numpy columns, townships as mesa-geo agents, one step per year.

Knows nothing of files or plotting; the region comes in as a validated ``geo.region.Region``.
"""
