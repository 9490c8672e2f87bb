"""The runtime of SPEC section 1: start / resume / handoff / dispatch / execute."""
