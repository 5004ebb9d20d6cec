# A shared MLflow tracking server on PostgreSQL (issue 14, docs/cluster.md). Included by the main Makefile.
TRACKING_PORT    ?= 5001
TRACKING_PG_PORT ?= 5433
TRACKING_HOST    ?= 127.0.0.1

.PHONY: tracking-server

tracking-server: $(STAMP) ## MLflow server on PostgreSQL, data under $TRANSFER_HOME/tracking; prints the MLFLOW_TRACKING_URI to export
	$(BIN)/transfer-tracking-server --host $(TRACKING_HOST) --port $(TRACKING_PORT) --pg-port $(TRACKING_PG_PORT) $(ARGS)
