# Included by the top-level Makefile: `make bench` (BENCH_ARGS="--quick" for a short run).
BENCH_ARGS ?=

bench: $(STAMP)
	PY=$(PY) bash bench/run.sh $(BENCH_ARGS)

# 200 SSE clients on one uvicorn process follow a run on PostgreSQL (bench/stream.py).
STREAM_ARGS ?=

bench-stream: $(STAMP)
	$(PY) -m bench.stream $(STREAM_ARGS)
