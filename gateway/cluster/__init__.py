"""The multi-node topology's processes (`make cluster`, `make drill`): load balancer, Redis Cluster, PgBouncer."""
