# Replay of lab winners on production under a pre-registered plan (issue #5). Included by the main Makefile.
# With RAY_ADDRESS set, the job is submitted to that Ray cluster (working dir shipped) and its logs streamed.
SETTING     ?= production
REPLAY_ARGS ?=

.PHONY: replay replay-usage

# the usage check is the first prerequisite: it fails before anything is installed or downloaded
replay: replay-usage assets ## lab winners -> plan -> production sweep -> report: make replay LAB=demo SETTING=production
	$(BIN)/transfer-replay replay.lab=$(LAB) replay.setting=$(SETTING) $(REPLAY_ARGS)

replay-usage:
	@test -n "$(LAB)" || { echo "usage: make replay LAB=<lab study> SETTING=<production setting> [REPLAY_ARGS='replay.seeds.max=5']"; exit 2; }
