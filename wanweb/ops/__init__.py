"""Operations: fault tolerance and observability (health checks, heartbeats, logs, the System page)."""
