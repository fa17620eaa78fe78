"""Routing's database edge: tables and the repository that reads and writes them."""
