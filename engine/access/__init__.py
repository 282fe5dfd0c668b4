"""Access: API tokens (stored hashed), the web UI's sessions, and the secret store
(values kept beside the store, sealed, never objects).
"""
