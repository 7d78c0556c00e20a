# Lyra — the two front doors are `make run` and `make test` (see README.md).
.PHONY: run stop test bench kv-bench setup pgregress isolation stress cluster cluster-stop

run:            ## install what is missing, build, start Lyra on :5433, open psql
	@scripts/run.sh

stop:           ## stop the server `make run` started
	@scripts/server.sh stop run

cluster:        ## three Postgres+Lyra nodes in one cluster: :5441-5443 (gRPC :7441-7443)
	@scripts/setup.sh && scripts/cluster.sh start cluster 5441 7441 3

cluster-stop:   ## stop the nodes `make cluster` started
	@scripts/cluster.sh stop cluster

test:           ## set up, then every test: cargo test, cargo pgrx test, regress/
	@scripts/test.sh

bench:          ## Lyra vs heap on the same machine, in one run
	@scripts/bench.sh

kv-bench:       ## replicated KV writes: lyra-node clusters of 1 and 3 nodes
	@scripts/kv_bench.sh

isolation:      ## only the isolation specs (regress/isolation) on a fresh server
	@scripts/isolation.sh

stress:         ## only the pgbench concurrency stress test (STRESS_SECONDS, default 60)
	@scripts/stress.sh

pgregress:      ## Postgres's own regression suite on heap, on Lyra, on Lyra without LyraScan (needs ../shared)
	@scripts/pgregress.sh

setup:          ## only install packages and tools, build and install the extension
	@scripts/setup.sh
