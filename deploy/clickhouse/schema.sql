-- The ClickHouse store's tables on a cluster (`[events] store = "clickhouse"`, `[clickhouse]
-- cluster`). Rendered from python/reactor_analytics/clickhouse/schema.py, the one
-- declaration (tests/test_clickhouse_schema.py checks it is up to date):
--   python -m reactor_analytics.clickhouse.schema > deploy/clickhouse/schema.sql
-- Needs the macros {cluster}, {shard} and {replica} in each server's configuration; run it
-- once on any node: `clickhouse-client --multiquery < schema.sql`.

CREATE DATABASE IF NOT EXISTS reactor ON CLUSTER '{cluster}';

CREATE TABLE IF NOT EXISTS reactor.events_local ON CLUSTER '{cluster}'
(
    project_id LowCardinality(String),
    seq UInt64,
    message_id String,
    event LowCardinality(String),
    ts DateTime64(6, 'UTC'),
    received_at DateTime64(6, 'UTC'),
    distinct_id String,
    anonymous_id Nullable(String),
    user_id Nullable(String),
    session_id Nullable(String),
    url Nullable(String),
    path Nullable(String),
    referrer_host Nullable(String),
    utm_source Nullable(String),
    utm_medium Nullable(String),
    utm_campaign Nullable(String),
    utm_term Nullable(String),
    utm_content Nullable(String),
    browser Nullable(String),
    os Nullable(String),
    device_type Nullable(String),
    country Nullable(String),
    language Nullable(String),
    timezone Nullable(String),
    ip_prefix Nullable(String),
    library Nullable(String),
    properties String,
    context Nullable(String),
    fingerprint Nullable(String),
    retention_days UInt16,
    props Map(String, String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/reactor/events', '{replica}', seq)
PARTITION BY toYYYYMM(ts)
ORDER BY (project_id, toDate(ts), distinct_id, ts, message_id)
TTL toDateTime(ts) + toIntervalDay(retention_days);

CREATE TABLE IF NOT EXISTS reactor.events ON CLUSTER '{cluster}' AS reactor.events_local
ENGINE = Distributed('{cluster}', reactor, events_local, cityHash64(project_id, distinct_id));

CREATE TABLE IF NOT EXISTS reactor.person_map ON CLUSTER '{cluster}'
(
    project_id LowCardinality(String),
    anonymous_id String,
    user_id String,
    seq UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/reactor/person_map', '{replica}', seq)
ORDER BY (project_id, anonymous_id);

CREATE TABLE IF NOT EXISTS reactor.person_traits ON CLUSTER '{cluster}'
(
    project_id LowCardinality(String),
    user_id String,
    traits String,
    trait_values Map(String, String),
    seq UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/reactor/person_traits', '{replica}', seq)
ORDER BY (project_id, user_id);

CREATE TABLE IF NOT EXISTS reactor.forward_positions ON CLUSTER '{cluster}'
(
    tail String,
    position UInt64,
    at DateTime64(6, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/reactor/forward_positions', '{replica}', at)
ORDER BY tail;
