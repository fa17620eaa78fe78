"""The pure scoring domain: no database, broker or web imports."""
