"""insight's adapters: tables, repositories and the events it emits."""
