"""frys."""
