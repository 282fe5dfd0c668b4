"""Provenance: the views of a run that the API and CLI show, logs, compare, the
audit-chain check and the exports.
"""
