package store

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/podint/podint/internal/collectorapi"
	"github.com/podint/podint/internal/intreport"
)

// Querier answers the questions users ask of the stored paths; the
// documented SQL (docs/collector.md) says the same.
type Querier interface {
	SlowestPaths(ctx context.Context, q collectorapi.PathQuery) ([]collectorapi.Path, error)
	Drops(ctx context.Context, q collectorapi.DropQuery) ([]collectorapi.Drop, error)
	Graph(ctx context.Context, since time.Duration) (collectorapi.Graph, error)
}

// service is ip:port, "" when the flow had no Service.
func service(ip string, port int32) string {
	if ip == "" {
		return ""
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(port)))
}

func endpoint(ip string, port int32, ns, pod, node string) collectorapi.Endpoint {
	return collectorapi.Endpoint{Addr: ip + ":" + strconv.Itoa(int(port)), Namespace: ns, Pod: pod, Node: node}
}

// SlowestPaths returns the paths of the window, slowest first.
func (p *Postgres) SlowestPaths(ctx context.Context, q collectorapi.PathQuery) ([]collectorapi.Path, error) {
	rows, err := p.pool.Query(ctx, `SELECT interval_start, proto, host(src_ip), src_port, host(dst_ip), dst_port,
		src_namespace, src_pod, src_node, dst_namespace, dst_pod, dst_node, route, hops, latency_ns, reports, drops,
		coalesce(host(service_ip), ''), service_port
		FROM paths WHERE interval_start >= now() - make_interval(secs => $1)
		AND ($2 = '' OR src_namespace = $2) AND ($3 = '' OR dst_namespace = $3)
		ORDER BY latency_ns DESC, interval_start DESC LIMIT $4`, seconds(q.Since), q.SrcNamespace, q.DstNamespace, limit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("query paths: %w", err)
	}
	defer rows.Close()
	out := []collectorapi.Path{}
	for rows.Next() {
		var r collectorapi.Path
		var proto int16
		var sip, dip, sns, spod, snode, dns, dpod, dnode string
		var sport, dport, svcPort int32
		var svc string
		if err := rows.Scan(&r.Interval, &proto, &sip, &sport, &dip, &dport, &sns, &spod, &snode, &dns, &dpod, &dnode,
			&r.Route, &r.Hops, &r.LatencyNS, &r.Reports, &r.Drops, &svc, &svcPort); err != nil {
			return nil, err
		}
		r.Service = service(svc, svcPort)
		r.Proto = intreport.ProtoName(uint8(proto))
		r.Src, r.Dst = endpoint(sip, sport, sns, spod, snode), endpoint(dip, dport, dns, dpod, dnode)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Drops returns where and why packets of a pod (either end) died.
func (p *Postgres) Drops(ctx context.Context, q collectorapi.DropQuery) ([]collectorapi.Drop, error) {
	rows, err := p.pool.Query(ctx, `SELECT interval_start, proto, host(src_ip), src_port, host(dst_ip), dst_port,
		src_namespace, src_pod, dst_namespace, dst_pod, node, host(switch_ip), ingress_port, reason, reason_name, count
		FROM drops WHERE interval_start >= now() - make_interval(secs => $1)
		AND ($2 = '' OR (src_namespace = $2 AND ($3 = '' OR src_pod = $3)) OR (dst_namespace = $2 AND ($3 = '' OR dst_pod = $3)))
		ORDER BY interval_start DESC, count DESC LIMIT $4`, seconds(q.Since), q.Namespace, q.Pod, limit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("query drops: %w", err)
	}
	defer rows.Close()
	out := []collectorapi.Drop{}
	for rows.Next() {
		var r collectorapi.Drop
		var proto, reason int16
		var sip, dip, sns, spod, dns, dpod string
		var sport, dport int32
		if err := rows.Scan(&r.Interval, &proto, &sip, &sport, &dip, &dport, &sns, &spod, &dns, &dpod,
			&r.Node, &r.SwitchIP, &r.IngressPort, &reason, &r.ReasonName, &r.Count); err != nil {
			return nil, err
		}
		r.Proto, r.Reason = intreport.ProtoName(uint8(proto)), int(reason)
		r.Src, r.Dst = endpoint(sip, sport, sns, spod, ""), endpoint(dip, dport, dns, dpod, "")
		out = append(out, r)
	}
	return out, rows.Err()
}

// Graph draws the paths of the window: pods and switches, and the
// traffic between them with each hop's mean latency. The mean is over the
// reports with a hop latency (the histogram's counts): a report whose
// packet no probed port timed has none, which is not a latency of 0.
func (p *Postgres) Graph(ctx context.Context, since time.Duration) (collectorapi.Graph, error) {
	rows, err := p.pool.Query(ctx, `SELECT host(src_ip), src_namespace, src_pod, src_node, host(dst_ip), dst_namespace, dst_pod, dst_node,
		CASE WHEN node <> '' THEN node ELSE host(switch_ip) END, sum(flow_hops.reports), (sum(latency_sum_ns) / greatest(sum(timed.known), 1))::bigint,
		coalesce(host(service_ip), ''), service_port
		FROM flow_hops, LATERAL (SELECT sum(n) AS known FROM unnest(latency_buckets) AS n) AS timed
		WHERE interval_start >= now() - make_interval(secs => $1)
		GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, position, switch_id
		ORDER BY 1, 2, 3, 5, 6, 7, 12, 13, position, switch_id`, seconds(since))
	if err != nil {
		return collectorapi.Graph{}, fmt.Errorf("query graph: %w", err)
	}
	defer rows.Close()
	b := collectorapi.NewGraphBuilder()
	var cur [2]collectorapi.Endpoint
	var curSvc string
	var hops []collectorapi.Hop
	flush := func() {
		if len(hops) > 0 {
			b.AddPath(cur[0], cur[1], curSvc, hops)
		}
		hops = nil
	}
	for rows.Next() {
		var src, dst collectorapi.Endpoint
		var h collectorapi.Hop
		var svc string
		var svcPort int32
		if err := rows.Scan(&src.Addr, &src.Namespace, &src.Pod, &src.Node, &dst.Addr, &dst.Namespace, &dst.Pod, &dst.Node,
			&h.Switch, &h.Reports, &h.LatencyNS, &svc, &svcPort); err != nil {
			return collectorapi.Graph{}, err
		}
		svc = service(svc, svcPort)
		if src != cur[0] || dst != cur[1] || svc != curSvc {
			flush()
			cur, curSvc = [2]collectorapi.Endpoint{src, dst}, svc
		}
		hops = append(hops, h)
	}
	flush()
	return b.Graph(), rows.Err()
}

var _ Querier = (*Postgres)(nil)

// seconds is a query window in seconds; 5 minutes when unset.
func seconds(d time.Duration) float64 {
	if d <= 0 {
		d = 5 * time.Minute
	}
	return d.Seconds()
}

func limit(n int) int {
	if n <= 0 {
		return 20
	}
	return n
}
