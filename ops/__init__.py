"""Operations: the servers a user starts (an MLflow tracking server on PostgreSQL, the MLflow UI) and the one
process lifecycle (ops/lifecycle.py) that they and the compute package's vLLM server share."""
