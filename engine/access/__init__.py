"""Access: API tokens (stored hashed) and the web UI's sessions.
"""
