-- podint-collector schema, version 1: paths per interval.

-- One row per interval, flow, pair of pods and hop (switch and ports).
CREATE TABLE flow_hops (
    interval_start  timestamptz NOT NULL,
    proto           smallint    NOT NULL,
    src_ip          inet        NOT NULL,
    src_port        integer     NOT NULL,
    dst_ip          inet        NOT NULL,
    dst_port        integer     NOT NULL,
    src_pod_uid     text        NOT NULL,  -- '' when the address's pod is unknown
    dst_pod_uid     text        NOT NULL,
    switch_id       bigint      NOT NULL,  -- the node (its IPv4 address as a number) or switch
    ingress_port    bigint      NOT NULL,  -- ifindex
    egress_port     bigint      NOT NULL,  -- 0: dropped before egress
    switch_ip       inet        NOT NULL,
    node            text        NOT NULL,  -- '' when the node's topology is unknown
    position        smallint    NOT NULL,  -- 0 source node, 1 transit, 2 destination node
    src_namespace   text        NOT NULL,
    src_pod         text        NOT NULL,
    src_node        text        NOT NULL,
    dst_namespace   text        NOT NULL,
    dst_pod         text        NOT NULL,
    dst_node        text        NOT NULL,
    reports         bigint      NOT NULL,  -- flow reports (sampled packets)
    bytes           bigint      NOT NULL,  -- bytes of the reported packets
    drops           bigint      NOT NULL,  -- drop reports
    latency_buckets bigint[]    NOT NULL,  -- counts per podint_latency_bounds() bucket, then above
    latency_sum_ns  bigint      NOT NULL,
    latency_max_ns  bigint      NOT NULL,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    PRIMARY KEY (interval_start, proto, src_ip, src_port, dst_ip, dst_port, src_pod_uid, dst_pod_uid,
                 switch_id, ingress_port, egress_port)
);
CREATE INDEX flow_hops_src ON flow_hops (src_namespace, src_pod, interval_start);
CREATE INDEX flow_hops_dst ON flow_hops (dst_namespace, dst_pod, interval_start);

-- Drops of a hop by INT drop reason.
CREATE TABLE hop_drops (
    interval_start  timestamptz NOT NULL,
    proto           smallint    NOT NULL,
    src_ip          inet        NOT NULL,
    src_port        integer     NOT NULL,
    dst_ip          inet        NOT NULL,
    dst_port        integer     NOT NULL,
    src_pod_uid     text        NOT NULL,
    dst_pod_uid     text        NOT NULL,
    switch_id       bigint      NOT NULL,
    ingress_port    bigint      NOT NULL,
    egress_port     bigint      NOT NULL,
    reason          smallint    NOT NULL,
    reason_name     text        NOT NULL,
    count           bigint      NOT NULL,
    PRIMARY KEY (interval_start, proto, src_ip, src_port, dst_ip, dst_port, src_pod_uid, dst_pod_uid,
                 switch_id, ingress_port, egress_port, reason)
);

-- A bounded sample of raw reports, as they arrived.
CREATE TABLE report_samples (
    batch_id        text        NOT NULL,
    received_at     timestamptz NOT NULL,
    source          inet        NOT NULL,
    source_port     integer     NOT NULL,
    format          text        NOT NULL,
    seq             bigint      NOT NULL,
    kind            text        NOT NULL,
    switch_id       bigint      NOT NULL,
    ingress_port    bigint      NOT NULL,
    egress_port     bigint      NOT NULL,
    hop_latency_ns  bigint      NOT NULL,
    drop_reason     smallint    NOT NULL,
    proto           smallint    NOT NULL,
    src_ip          inet,
    src_port        integer     NOT NULL,
    dst_ip          inet,
    dst_port        integer     NOT NULL,
    frame_len       bigint      NOT NULL
);
CREATE INDEX report_samples_time ON report_samples (received_at);

-- Batches written: a retried batch is recognized and skipped.
CREATE TABLE write_batches (
    batch_id        text        PRIMARY KEY,
    interval_start  timestamptz NOT NULL,
    written_at      timestamptz NOT NULL DEFAULT now()
);

-- Upper bounds (ns) of the latency buckets; a last bucket holds the rest.
CREATE FUNCTION podint_latency_bounds() RETURNS bigint[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY[1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000,
                 1000000, 2000000, 5000000, 10000000, 20000000, 50000000, 100000000, 1000000000]::bigint[]
$$;

-- Element-wise sum of two histograms.
CREATE FUNCTION podint_buckets_add(a bigint[], b bigint[]) RETURNS bigint[] LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
    FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;

-- Sum of histograms, as an aggregate: SELECT podint_buckets_sum(latency_buckets) ...
CREATE AGGREGATE podint_buckets_sum(bigint[]) (SFUNC = podint_buckets_add, STYPE = bigint[]);

-- The upper bound of the bucket holding quantile q (0..1), capped by max_ns.
CREATE FUNCTION podint_latency_quantile(buckets bigint[], q float8, max_ns bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    WITH b AS (
        SELECT i, sum(c) OVER (ORDER BY i) AS cum, sum(c) OVER () AS total
        FROM unnest(buckets) WITH ORDINALITY AS t(c, i)
    )
    SELECT least(coalesce((podint_latency_bounds())[i], max_ns), max_ns)
    FROM b WHERE total > 0 AND cum >= greatest(ceil(q * total), 1)
    ORDER BY i LIMIT 1
$$;
