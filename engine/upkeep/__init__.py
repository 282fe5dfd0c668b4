"""Upkeep: gc, reindexing, the sync ref policy and metrics.
"""
