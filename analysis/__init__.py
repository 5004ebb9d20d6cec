"""Statistics and reports for transfer studies. Reads the MLflow tracking store only, through transfer.store (the one
module of transfer/ imported here; tests/repo/test_layers.py): no Ray, no vLLM, no pipeline.

load -> bootstrap/estimates -> significance -> verdicts -> report (tables, figures, results.json).
"""

__all__ = ["config", "load", "bootstrap", "estimates", "significance", "verdicts", "analyze", "report"]
