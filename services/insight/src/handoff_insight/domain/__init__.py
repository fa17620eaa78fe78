"""The insight domain: the funnel row per MQL, KPI formulas, health bands and the what-if; no I/O."""
