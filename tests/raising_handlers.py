"""A handler module that raises while it is imported (a setting read at import time)."""

raise RuntimeError("ACME_API_URL is not configured")
