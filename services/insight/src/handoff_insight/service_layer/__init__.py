"""insight's use cases: apply a batch of funnel facts, judge the bands, answer KPI questions."""
