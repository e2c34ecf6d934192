-- podint-collector schema, version 4: the Service a flow was sent to.
-- Reports carry packets as they left the node, after NAT; the nodes'
-- translations (GET /api/v1/translations) say where the connection was
-- addressed before DNAT: a ClusterIP:port or a node:nodePort.
ALTER TABLE flow_hops
    ADD COLUMN service_ip   inet,                       -- NULL: no Service known for the flow
    ADD COLUMN service_port integer NOT NULL DEFAULT 0;

CREATE INDEX flow_hops_service ON flow_hops (service_ip, interval_start) WHERE service_ip IS NOT NULL;

-- The paths view, with the Service (hops of one path agree; max() also
-- takes it from the one hop a replica without the translation left NULL).
CREATE OR REPLACE VIEW paths AS
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
       max(last_seen)                                                  AS last_seen,
       max(service_ip)                                                 AS service_ip,
       max(service_port)                                               AS service_port
FROM flow_hops
GROUP BY interval_start, proto, src_ip, src_port, dst_ip, dst_port, src_pod_uid, dst_pod_uid,
         src_namespace, src_pod, src_node, dst_namespace, dst_pod, dst_node;
