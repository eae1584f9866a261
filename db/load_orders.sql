-- Load :n synthetic orders quickly (one INSERT ... SELECT over generate_series), for backup and restore
-- timings and the restore drill's test. Run as the superuser in the app database:
--   python -m deploy psql db1 -- -d tiers -v n=100000 -f db/load_orders.sql
-- Orders go to the demo buyers and the existing events in turn; their idempotency keys start with
-- "load-<batch>-" (the batch is the time of the run), so a later run never collides and
-- `DELETE ... WHERE idempotency_key LIKE 'load-%'` removes them again. Events' tickets_sold is left as is:
-- these rows measure storage, they are not sales.
\set ON_ERROR_STOP 1
SELECT extract(epoch FROM clock_timestamp())::bigint AS batch \gset
WITH buyers AS (SELECT array_agg(id ORDER BY id) AS ids FROM auth_user),
     events AS (SELECT array_agg(id ORDER BY id) AS ids FROM boxoffice_event)
INSERT INTO boxoffice_order (user_id, event_id, quantity, unit_price, idempotency_key, created_at, ticket_pdf)
SELECT b.ids[1 + g % cardinality(b.ids)],
       e.ids[1 + g % cardinality(e.ids)],
       1 + g % 4,
       25.00,
       'load-' || :batch || '-' || g,
       now() - (g % 86400) * interval '1 second',
       ''
FROM generate_series(1, :n) AS g, buyers b, events e;
