-- podint-collector schema, version 5: a path's latency in the paths view
-- is the sum of its hops' mean latencies over the reports that have one
-- (the histogram's counts), as the graph query has it: a report no probed
-- ingress port timed has no hop latency, which is not a latency of 0.
CREATE OR REPLACE VIEW paths AS
SELECT interval_start, proto, src_ip, src_port, dst_ip, dst_port,
       src_namespace, src_pod, src_node, dst_namespace, dst_pod, dst_node,
       count(*)                                                        AS hops,
       string_agg(CASE WHEN node <> '' THEN node ELSE host(switch_ip) END
                  || '[' || ingress_port || '>' || egress_port || ']', ' -> '
                  ORDER BY position, switch_id)                        AS route,
       sum(latency_sum_ns / greatest((SELECT sum(n) FROM unnest(latency_buckets) AS n), 1)::bigint) AS latency_ns,
       max(reports)                                                    AS reports,
       sum(drops)                                                      AS drops,
       min(first_seen)                                                 AS first_seen,
       max(last_seen)                                                  AS last_seen,
       max(service_ip)                                                 AS service_ip,
       max(service_port)                                               AS service_port
FROM flow_hops
GROUP BY interval_start, proto, src_ip, src_port, dst_ip, dst_port, src_pod_uid, dst_pod_uid,
         src_namespace, src_pod, src_node, dst_namespace, dst_pod, dst_node;
