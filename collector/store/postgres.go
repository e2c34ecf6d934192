package store

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/podint/podint/collector/identity"
	"github.com/podint/podint/collector/path"
)

// Postgres is the Store on PostgreSQL (15 and later).
type Postgres struct {
	pool *pgxpool.Pool
}

// OpenPostgres connects with dsn (a libpq connection string or URL) and
// brings the schema up to date.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database %q: %w", dsn, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database schema: %w (is PostgreSQL reachable at %s:%d?)", err, cfg.ConnConfig.Host, cfg.ConnConfig.Port)
	}
	return &Postgres{pool: pool}, nil
}

// Pool is the connection pool, for queries.
func (p *Postgres) Pool() *pgxpool.Pool { return p.pool }

// Close closes the pool.
func (p *Postgres) Close() { p.pool.Close() }

var hopColumns = []string{"interval_start", "proto", "src_ip", "src_port", "dst_ip", "dst_port", "src_pod_uid", "dst_pod_uid",
	"switch_id", "ingress_port", "egress_port", "switch_ip", "node", "position",
	"src_namespace", "src_pod", "src_node", "dst_namespace", "dst_pod", "dst_node",
	"reports", "bytes", "drops", "latency_buckets", "latency_sum_ns", "latency_max_ns", "first_seen", "last_seen",
	"service_ip", "service_port"}

var dropColumns = []string{"interval_start", "proto", "src_ip", "src_port", "dst_ip", "dst_port", "src_pod_uid", "dst_pod_uid",
	"switch_id", "ingress_port", "egress_port", "reason", "reason_name", "count"}

var sampleColumns = []string{"batch_id", "received_at", "source", "source_port", "format", "seq", "kind", "switch_id",
	"ingress_port", "egress_port", "hop_latency_ns", "drop_reason", "proto", "src_ip", "src_port", "dst_ip", "dst_port", "frame_len"}

const keyColumns = "interval_start, proto, src_ip, src_port, dst_ip, dst_port, src_pod_uid, dst_pod_uid, switch_id, ingress_port, egress_port"

// prefix makes an address an inet value (pgx encodes netip.Prefix).
func prefix(a netip.Addr) any {
	if !a.IsValid() {
		return nil
	}
	return netip.PrefixFrom(a, a.BitLen())
}

func addrOrZero(a netip.Addr) any {
	if !a.IsValid() {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 32)
	}
	return prefix(a)
}

func uid(p identity.Pod) string { return p.UID }

// Write stores b: COPY into temporary tables, then one INSERT ... ON
// CONFLICT per table that merges with rows already there.
func (p *Postgres) Write(ctx context.Context, b *Batch) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO write_batches (batch_id, interval_start) VALUES ($1, $2) ON CONFLICT DO NOTHING", b.ID, b.Start)
		if err != nil {
			return fmt.Errorf("record batch: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // written before: a retry whose first try committed
		}
		if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE stage_hops (LIKE flow_hops) ON COMMIT DROP;
			CREATE TEMPORARY TABLE stage_drops (LIKE hop_drops) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("stage: %w", err)
		}
		// Rows are encoded as COPY reads them, one reused row at a time:
		// an interval of 100k paths never exists twice in memory.
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, newHopCopy(b.Paths), copyHopsSQL); err != nil {
			return fmt.Errorf("copy hops: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_drops"}, dropColumns, &dropRows{paths: b.Paths}); err != nil {
			return fmt.Errorf("copy drops: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO flow_hops SELECT * FROM stage_hops ORDER BY `+keyColumns+` ON CONFLICT (`+keyColumns+`) DO UPDATE SET
			reports = flow_hops.reports + excluded.reports,
			bytes = flow_hops.bytes + excluded.bytes,
			drops = flow_hops.drops + excluded.drops,
			latency_buckets = podint_buckets_add(flow_hops.latency_buckets, excluded.latency_buckets),
			latency_sum_ns = flow_hops.latency_sum_ns + excluded.latency_sum_ns,
			latency_max_ns = greatest(flow_hops.latency_max_ns, excluded.latency_max_ns),
			first_seen = least(flow_hops.first_seen, excluded.first_seen),
			last_seen = greatest(flow_hops.last_seen, excluded.last_seen),
			node = CASE WHEN excluded.node <> '' THEN excluded.node ELSE flow_hops.node END,
			position = excluded.position,
			service_ip = coalesce(excluded.service_ip, flow_hops.service_ip),
			service_port = CASE WHEN excluded.service_ip IS NOT NULL THEN excluded.service_port ELSE flow_hops.service_port END`); err != nil {
			return fmt.Errorf("merge hops: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO hop_drops SELECT * FROM stage_drops ON CONFLICT (`+keyColumns+`, reason)
			DO UPDATE SET count = hop_drops.count + excluded.count`); err != nil {
			return fmt.Errorf("merge drops: %w", err)
		}
		var samples [][]any
		for _, s := range b.Samples {
			samples = append(samples, []any{b.ID, s.At, addrOrZero(s.From.Addr()), int32(s.From.Port()), s.Format.String(), int64(s.Seq),
				s.Kind.String(), int64(s.SwitchID), int64(s.IngressPort), int64(s.EgressPort), hopOrNull(s),
				int16(s.DropReason), int16(s.Flow.Proto), prefix(s.Flow.Src), int32(s.Flow.SrcPort), prefix(s.Flow.Dst),
				int32(s.Flow.DstPort), int64(s.FrameLen)})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"report_samples"}, sampleColumns, pgx.CopyFromRows(samples)); err != nil {
			return fmt.Errorf("copy samples: %w", err)
		}
		return nil
	})
}

// Retain deletes intervals, samples and batch records older than before.
func (p *Postgres) Retain(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, q := range []string{
		"DELETE FROM flow_hops WHERE interval_start < $1",
		"DELETE FROM hop_drops WHERE interval_start < $1",
		"DELETE FROM report_samples WHERE received_at < $1",
		"DELETE FROM write_batches WHERE interval_start < $1",
	} {
		tag, err := p.pool.Exec(ctx, q, before)
		if err != nil {
			return total, fmt.Errorf("retention: %w", err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

var _ Store = (*Postgres)(nil)

// hopOrNull is a sample's hop latency, NULL when it is unknown.
func hopOrNull(s path.Sample) any {
	if !s.HopKnown {
		return nil
	}
	return int64(s.HopLatency)
}
