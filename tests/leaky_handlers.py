"""A handler module that fails to import with a credential in its message: the check and
``handler_not_found`` quote the error, redacted."""

raise RuntimeError("cannot reach postgres://app:import-pw-1@db/prod")
