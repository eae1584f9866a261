"""ENGINE = "dbrouter.backends.postgresql": Django's PostgreSQL backend with transparent replica failover."""
