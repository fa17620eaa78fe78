"""The pure routing domain: no database, broker or web imports."""
