"""The HTTP routes and their typed dependencies."""
