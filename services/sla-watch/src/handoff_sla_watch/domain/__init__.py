"""The pure SLA domain: no database, broker or web imports."""
