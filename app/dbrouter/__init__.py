"""dbrouter: a replica-aware, LSN-tracking database router for Django + PostgreSQL streaming replication.

See docs/DBROUTER.md for adoption (settings, middleware, task helper, counters, guarantees and limits).
"""
