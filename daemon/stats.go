package daemon

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/podint/podint/bpf"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Stats returns every counter of the pipeline, loss counters included. It
// is the one source of the API's Stats and of /metrics.
func (d *Daemon) Stats() []*podintv1.Counter {
	var out []*podintv1.Counter
	add := func(name, help string, v uint64, labels map[string]string) {
		out = append(out, &podintv1.Counter{Name: name, Help: help, Value: v, Labels: labels})
	}
	gauge := func(name, help string, v uint64) {
		out = append(out, &podintv1.Counter{Name: name, Help: help, Value: v, Gauge: true})
	}
	if kc, err := d.collection.Counters(); err == nil {
		for i, v := range kc {
			add("kernel_"+bpf.CounterNames()[i], bpf.CounterHelp[bpf.CounterNames()[i]], v, nil)
		}
	}
	if ex, err := d.collection.DropsExcluded(); err == nil {
		for _, reason := range slices.Sorted(maps.Keys(ex)) {
			add("kernel_drops_excluded", "drops of probed ports not reported because --drop-reasons excludes their kernel reason", ex[reason],
				map[string]string{"reason": reason})
		}
	}
	add("events_received", "events read from the ring buffer", d.reader.Received(), nil)
	add("events_malformed", "ring buffer records dropped as undecodable", d.reader.Malformed(), nil)
	gauge("ringbuf_pending_bytes", "bytes of events waiting in the ring buffer", uint64(max(d.reader.Pending(), 0)))
	gauge("ringbuf_size_bytes", "capacity of the ring buffer", uint64(d.reader.Size()))
	gauge("probes", "probes the daemon holds (pod veths and uplinks)", uint64(len(d.store.Probes())))
	if d.watcher != nil {
		add("watchlist_reloads", "watchlist changes put in force", d.watcher.Reloads(), nil)
		add("watchlist_rejected", "watchlist changes rejected for an error", d.watcher.Rejected(), nil)
	}
	add("config_reloads", "configuration file changes put in force", d.configReloads.Load(), nil)
	add("config_rejected", "configuration file changes rejected for an error", d.configRejects.Load(), nil)
	for _, s := range d.exporter.Stats() {
		lbl := map[string]string{"collector": s.Collector}
		add("reports_sent", "reports sent to the collector", s.Reports, lbl)
		add("datagrams_sent", "datagrams sent to the collector", s.Datagrams, lbl)
		add("datagram_send_errors", "datagrams (with their reports) lost to send errors", s.SendErrors, lbl)
		add("reports_dropped_queue_full", "reports lost because the send queue was full", s.QueueDrops, lbl)
	}
	gauge("report_streams", "live report streams (podintctl watch)", uint64(d.hub.Subscribers()))
	add("report_stream_delivered", "reports handed to live report streams", d.hub.Delivered(), nil)
	add("report_stream_dropped", "reports a live stream missed because its client did not keep up", d.hub.Dropped(), nil)
	gauge("nat_connections", "NATed connections held for the collector (GET /api/v1/translations)", uint64(d.nat.Len()))
	add("nat_connections_evicted", "NATed connections dropped from a full table: the collector sees their flows without Service", d.nat.Evicted(), nil)
	add("nat_connections_expired", "NATed connections forgotten after 2 minutes without a report", d.nat.Expired(), nil)
	add("probes_adopted", "probes found attached at start and updated in place to this daemon's programs", d.reconciled.adopted.Load(), nil)
	add("probes_reregistered", "probes found attached at start without registration, registered again", d.reconciled.rebuilt.Load(), nil)
	add("probes_removed_at_start", "probes or registrations removed at start because their veth or pins were gone", d.reconciled.removed.Load(), nil)
	add("probes_removed_vanished", "pod probes removed because their veth disappeared without a CNI DEL reaching podint", d.vanished.Load(), nil)
	add("probes_update_failed", "probes whose hooks kept their earlier programs at start", d.reconciled.updateErr.Load(), nil)
	add("upgrade_maps_replaced", "pinned maps of an older layout replaced at start", d.migrated.mapsReplaced.Load(), nil)
	add("upgrade_flows_forgotten", "flows of a replaced flow table: each reported once more as new", d.migrated.flowsForgotten.Load(), nil)
	add("upgrade_events_drained", "unread events of a replaced ring buffer, reported after the upgrade", d.migrated.eventsDrained.Load(), nil)
	add("upgrade_events_lost_bytes", "bytes of unread events lost with a replaced ring buffer of another event layout", d.migrated.eventsLost.Load(), nil)
	add("upgrade_pod_ports_lost", "pod-side probes whose host port a replaced pod_ports map lacks", d.migrated.podPortsLost.Load(), nil)
	if ps, err := d.collection.ProgramStats(); err == nil {
		for _, s := range ps {
			lbl := map[string]string{"program": s.Program}
			add("bpf_run_time_ns", "time the program ran, in ns (counted while kernel.bpf_stats_enabled=1 or --bpf-stats)", s.RunTime, lbl)
			add("bpf_run_count", "times the program ran (counted while kernel.bpf_stats_enabled=1 or --bpf-stats)", s.RunCount, lbl)
		}
	}
	return out
}

// collectorErrorWindow is how recent a send error must be to be a warning.
const collectorErrorWindow = time.Minute

// Health says whether the daemon works (it reads the ring buffer) and what
// needs attention without stopping it (a collector that fails, a ring
// buffer that overflows, nowhere to send reports).
func (d *Daemon) Health() *podintv1.HealthResponse {
	// Ok is false only while the daemon cannot work; a daemon whose ring
	// buffer reader fails exits instead (see Run), to be restarted.
	h := &podintv1.HealthResponse{Ok: true}
	if len(d.exporter.Stats()) == 0 {
		h.Warnings = append(h.Warnings, "no collector configured: reports go nowhere (see --collector)")
	}
	for _, s := range d.exporter.Stats() {
		if s.Unresolved != "" {
			h.Warnings = append(h.Warnings, fmt.Sprintf("collector %s does not resolve, so its reports are lost (retrying): %s",
				s.Collector, s.Unresolved))
		} else if s.LastError != "" && time.Since(s.LastErrorAt) < collectorErrorWindow {
			h.Warnings = append(h.Warnings, fmt.Sprintf("collector %s: send failed %s ago: %s",
				s.Collector, time.Since(s.LastErrorAt).Round(time.Second), s.LastError))
		}
	}
	if size := d.reader.Size(); size > 0 && d.reader.Pending()*10 > size*9 {
		h.Warnings = append(h.Warnings, fmt.Sprintf("ring buffer %d%% full: events are read slower than the probes write them",
			d.reader.Pending()*100/size))
	}
	if kc, err := d.collection.Counters(); err == nil && kc[bpf.CounterRingbufFull] > 0 {
		h.Warnings = append(h.Warnings, fmt.Sprintf("%d events lost to a full ring buffer since the probes were loaded (kernel_ringbuf_full)",
			kc[bpf.CounterRingbufFull]))
	}
	return h
}
