"""The runtime: start / resume / handoff / dispatch / execute (docs/architecture.md)."""
