package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/podint/podint/internal/intreport"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func init() { subcommands = append(subcommands, newWatchCmd) }

func newWatchCmd() *cobra.Command {
	var ip string
	var drops, asJSON bool
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print the reports the daemon sends, live, one line each",
		Long: `watch streams the INT reports podintd sends to its collectors, decoded, as they are sent:
one line per report with the flow, the ports it crossed the node through (and the pods behind
them), its hop latency, or for a drop the reason. Stop it with Ctrl-C.

The daemon never waits for watch: when the terminal cannot keep up, reports are skipped and
watch says how many.`,
		Example: `  podintctl watch
  podintctl watch --ip 10.22.0.5 --drops
  podintctl watch --json | jq .`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, closeFn, err := daemonClient(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			names := &portNames{client: c}
			names.refresh(cmd)
			stream, err := c.Reports(ctx, &podintv1.ReportsRequest{Ip: ip, DropsOnly: drops})
			if err != nil {
				return fmt.Errorf("watch reports: %w", explain(cmd, err))
			}
			out := cmd.OutOrStdout()
			for {
				ev, err := stream.Recv()
				if err != nil {
					if errors.Is(err, io.EOF) || ctx.Err() != nil || status.Code(err) == codes.Canceled {
						return nil
					}
					return fmt.Errorf("watch reports: %w", explain(cmd, err))
				}
				if n := ev.GetSkippedBefore(); n > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "... %d reports skipped: this terminal did not keep up\n", n)
				}
				if asJSON {
					b, _ := protojson.Marshal(ev)
					fmt.Fprintln(out, string(b))
					continue
				}
				fmt.Fprintln(out, formatReport(ev, names.lookup(cmd)))
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&ip, "ip", "", "only reports of flows from or to this IP address, before or after NAT (a Service's ClusterIP works too)")
	f.BoolVar(&drops, "drops", false, "only drop reports")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (the API's ReportEvent) per report")
	return cmd
}

// portNames names the node's ports after the pods and uplinks behind them.
type portNames struct {
	client  podintv1.PodintClient
	names   map[uint32]string
	fetched time.Time
}

func (p *portNames) refresh(cmd *cobra.Command) {
	ctx, cancel := callContext(cmd)
	defer cancel()
	t, err := p.client.Topology(ctx, &podintv1.TopologyRequest{})
	p.fetched = time.Now()
	if err != nil {
		return
	}
	p.names = map[uint32]string{}
	if cpu := t.GetNode().GetCpuPort(); cpu != 0 {
		p.names[cpu] = "node"
	}
	for _, u := range t.GetNode().GetUplinks() {
		p.names[u.GetIfindex()] = u.GetHostInterface()
	}
	for _, port := range t.GetPorts() {
		if pod := port.GetPod(); pod.GetName() != "" {
			p.names[port.GetIfindex()] = pod.GetNamespace() + "/" + pod.GetName()
		}
	}
}

// lookup returns a namer; ports unknown yet trigger a refresh, at most once
// a second (pods come and go while watching).
func (p *portNames) lookup(cmd *cobra.Command) func(uint32) string {
	return func(port uint32) string {
		if _, ok := p.names[port]; !ok && port != 0 && time.Since(p.fetched) > time.Second {
			p.refresh(cmd)
		}
		return p.names[port]
	}
}

// formatReport renders a report as one line, like hubble observe:
//
//	15:04:05.000 flow tcp 10.22.0.2:41480 -> 10.22.0.3:8080 port 3 (default/a) -> 4 (default/b) hop 13.2µs
func formatReport(ev *podintv1.ReportEvent, name func(uint32) string) string {
	var b strings.Builder
	b.WriteString(time.Unix(0, ev.GetTimeUnixNano()).Format("15:04:05.000"))
	f := ev.GetFlow()
	flow := formatFlow(f)
	if nat := ev.GetNat(); nat != nil {
		flow = formatTranslated(f, nat)
	}
	port := func(p uint32) string {
		if n := name(p); n != "" {
			return fmt.Sprintf("%d (%s)", p, n)
		}
		return fmt.Sprint(p)
	}
	switch ev.GetKind() {
	case podintv1.ReportEvent_KIND_DROP:
		fmt.Fprintf(&b, " drop %s port %s", flow, port(ev.GetIngressPort()))
		if ev.GetEgressPort() != 0 {
			fmt.Fprintf(&b, " -> %s", port(ev.GetEgressPort()))
		}
		fmt.Fprintf(&b, " reason %d %s (%s)", ev.GetDropReason(), ev.GetDropReasonName(), ev.GetKernelDropReasonName())
	default:
		fmt.Fprintf(&b, " flow %s port %s -> %s", flow, port(ev.GetIngressPort()), port(ev.GetEgressPort()))
		if ev.HopLatencyNs != nil {
			fmt.Fprintf(&b, " hop %s", time.Duration(ev.GetHopLatencyNs()))
		} else {
			b.WriteString(" hop -") // no probed ingress port timed the packet
		}
	}
	if ev.GetPackets() > 0 {
		fmt.Fprintf(&b, " packets %d bytes %d", ev.GetPackets(), ev.GetBytes())
	}
	return b.String()
}

func formatFlow(f *podintv1.Flow) string {
	proto := intreport.ProtoName(uint8(f.GetProto()))
	switch uint8(f.GetProto()) {
	case intreport.ProtoTCP, intreport.ProtoUDP, intreport.ProtoSCTP:
		return fmt.Sprintf("%s %s -> %s", proto, hostPort(f.GetSrc(), f.GetSrcPort()), hostPort(f.GetDst(), f.GetDstPort()))
	case intreport.ProtoICMP, intreport.ProtoICMPv6:
		return fmt.Sprintf("%s %s -> %s type %d code %d", proto, f.GetSrc(), f.GetDst(), f.GetSrcPort(), f.GetDstPort())
	}
	return fmt.Sprintf("%s %s -> %s", proto, f.GetSrc(), f.GetDst())
}

// formatTranslated renders a flow NAT rewrote in the node, the Service it
// was sent to in the middle:
//
//	tcp 10.22.0.2:41480 -> svc 10.96.0.10:80 -> 10.22.0.3:8080   (request, DNAT)
//	tcp 10.22.0.3:8080 -> svc 10.96.0.10:80 -> 10.22.0.2:41480   (its reply)
//	tcp 10.22.0.2:41480 (as 192.168.50.1:61000) -> 1.1.1.1:443   (masquerade)
//	tcp 1.1.1.1:443 -> 10.22.0.2:41480 (was 192.168.50.1:61000)  (its reply)
func formatTranslated(f *podintv1.Flow, nat *podintv1.Translation) string {
	proto := uint8(f.GetProto())
	ep := func(addr string, port uint32) string {
		switch proto {
		case intreport.ProtoTCP, intreport.ProtoUDP, intreport.ProtoSCTP:
			return hostPort(addr, port)
		}
		return addr
	}
	b := nat.GetBefore()
	src, dst := ep(f.GetSrc(), f.GetSrcPort()), ep(f.GetDst(), f.GetDstPort())
	srcBefore, dstBefore := ep(b.GetSrc(), b.GetSrcPort()), ep(b.GetDst(), b.GetDstPort())
	svc := nat.GetService()
	switch {
	case nat.GetReply() && svc != "":
		src = srcBefore + " -> svc " + svc
	case srcBefore != src:
		src = srcBefore + " (as " + src + ")"
	}
	switch {
	case !nat.GetReply() && svc != "":
		dst = "svc " + svc + " -> " + dst
	case dstBefore != dst:
		dst += " (was " + dstBefore + ")"
	}
	s := fmt.Sprintf("%s %s -> %s", intreport.ProtoName(proto), src, dst)
	if proto == intreport.ProtoICMP || proto == intreport.ProtoICMPv6 {
		s += fmt.Sprintf(" type %d code %d", f.GetSrcPort(), f.GetDstPort())
	}
	return s
}

func hostPort(addr string, port uint32) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}
