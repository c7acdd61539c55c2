"""Observability: Prometheus metrics (`metrics`) and structured logs (`logs`)."""
