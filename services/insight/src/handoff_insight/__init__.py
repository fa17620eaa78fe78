"""handoff insight: the funnel read model (MQL -> SAL -> SQL), its KPIs, band alerts and dashboard."""
