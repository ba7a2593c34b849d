"""decomposer."""
