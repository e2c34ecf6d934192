-- podint-collector schema, version 2: the views users query.

-- One row per path (interval, flow, pair of pods): its hops in order as
-- text, and its latency as the sum of the hops' mean latencies (no clock
-- is compared between nodes).
CREATE VIEW paths AS
SELECT interval_start, proto, src_ip, src_port, dst_ip, dst_port,
       src_namespace, src_pod, src_node, dst_namespace, dst_pod, dst_node,
       count(*)                                                        AS hops,
       string_agg(CASE WHEN node <> '' THEN node ELSE host(switch_ip) END
                  || '[' || ingress_port || '>' || egress_port || ']', ' -> '
                  ORDER BY position, switch_id)                        AS route,
       sum(latency_sum_ns / greatest(reports, 1))                      AS latency_ns,
       max(reports)                                                    AS reports,
       sum(drops)                                                      AS drops,
       min(first_seen)                                                 AS first_seen,
       max(last_seen)                                                  AS last_seen
FROM flow_hops
GROUP BY interval_start, proto, src_ip, src_port, dst_ip, dst_port, src_pod_uid, dst_pod_uid,
         src_namespace, src_pod, src_node, dst_namespace, dst_pod, dst_node;

-- Where packets died and why: one row per hop and reason.
CREATE VIEW drops AS
SELECT d.interval_start, d.proto, d.src_ip, d.src_port, d.dst_ip, d.dst_port,
       h.src_namespace, h.src_pod, h.dst_namespace, h.dst_pod,
       h.node, h.switch_ip, d.ingress_port, d.reason, d.reason_name, d.count
FROM hop_drops d
JOIN flow_hops h USING (interval_start, proto, src_ip, src_port, dst_ip, dst_port, src_pod_uid, dst_pod_uid,
                        switch_id, ingress_port, egress_port);
