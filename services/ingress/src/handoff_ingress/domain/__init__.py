"""Pure ingress rules: each provider's verification and format, mapping to signals, rate limits."""
