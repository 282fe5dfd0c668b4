"""Indexes: derived, rebuildable meta entries (counters, lineage, attempts) that
answer questions without walking the graph.
"""
