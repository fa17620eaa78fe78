"""Scoring's entrypoints: the HTTP routes (score, erasure), the consumer wiring, the rescore
command and the typed ScoringDeps; they translate and delegate."""
