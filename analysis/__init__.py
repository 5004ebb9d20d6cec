"""Statistics and reports for transfer studies. Reads the MLflow tracking store only: no Ray, no vLLM.

load -> bootstrap/estimates -> significance -> verdicts -> report (tables, figures, results.json).
"""

__all__ = ["config", "load", "bootstrap", "estimates", "significance", "verdicts", "analyze", "report"]
