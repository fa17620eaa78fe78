"""The delivery table, the signal records put on the broker, and the metrics."""
