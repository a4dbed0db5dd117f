-- A schema like the ones pgpart is built for: tables partitioned by time
-- whose current partitions were never created. Inserts at now() fail with
--   ERROR: no partition of relation "messages" found for row
-- until `pgpart maintain` runs (examples/quickstart.sh shows it end to end).
--
-- Everything is relative to the real current date: the partitions a migration
-- made "a while ago" end where the current period (month, day) begins.
-- Boundaries are in UTC, the time zone examples/pgpart.toml configures.

SET TimeZone = 'UTC';

CREATE TABLE messages (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    "timestamp" timestamptz NOT NULL,
    channel     text NOT NULL,
    body        text,
    PRIMARY KEY (id, "timestamp")
) PARTITION BY RANGE ("timestamp");

CREATE TABLE api_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    "timestamp" timestamptz NOT NULL,
    route       text NOT NULL,
    status      int NOT NULL,
    duration_ms int,
    PRIMARY KEY (id, "timestamp")
) PARTITION BY RANGE ("timestamp");

CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at timestamptz NOT NULL,
    kind        text NOT NULL,
    payload     jsonb,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE livechat_messages (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    created_at  timestamptz NOT NULL,
    room_id     bigint NOT NULL,
    body        text,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX ON livechat_messages (room_id, created_at);

-- The migration that "created a few months of partitions": the three months
-- (ten days for events) before the current one, and nothing after.
DO $$
DECLARE
    m date;
BEGIN
    FOR i IN REVERSE 3..1 LOOP
        m := date_trunc('month', now() - make_interval(months => i))::date;
        EXECUTE format('CREATE TABLE %I PARTITION OF messages FOR VALUES FROM (%L) TO (%L)',
                       'messages_' || to_char(m, 'YYYY_MM'), m, m + interval '1 month');
        EXECUTE format('CREATE TABLE %I PARTITION OF api_logs FOR VALUES FROM (%L) TO (%L)',
                       'api_logs_' || to_char(m, 'YYYY_MM'), m, m + interval '1 month');
        EXECUTE format('CREATE TABLE %I PARTITION OF livechat_messages FOR VALUES FROM (%L) TO (%L)',
                       'livechat_messages_p' || to_char(m, 'YYYY_MM'), m, m + interval '1 month');
    END LOOP;
    FOR i IN REVERSE 10..1 LOOP
        m := (now() - make_interval(days => i))::date;
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                       'events_' || to_char(m, 'YYYYMMDD'), m, m + 1);
    END LOOP;
END $$;

-- api_logs got a DEFAULT partition "to be safe": the rows of the current
-- month (of the last ~3 weeks) have piled up in it.
CREATE TABLE api_logs_default PARTITION OF api_logs DEFAULT;
INSERT INTO api_logs ("timestamp", route, status, duration_ms)
SELECT now() - make_interval(hours => g), '/v1/items', 200, g % 90
  FROM generate_series(1, 500) g;
