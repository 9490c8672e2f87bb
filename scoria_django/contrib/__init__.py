"""Optional integrations with other software; nothing here is imported by the core."""
