# Included by the top-level Makefile: `make bench` (BENCH_ARGS="--quick" for a short run).
BENCH_ARGS ?=

bench: $(STAMP)
	PY=$(PY) bash bench/run.sh $(BENCH_ARGS)
