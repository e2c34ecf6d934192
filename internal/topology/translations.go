package topology

// TranslationsPath is where podintd's --http-listen serves the NAT
// translations its reports went through (the same bearer token as the
// topology): how the collector learns which Service a flow was sent to.
const TranslationsPath = "/api/v1/translations"

// Translations is the answer of GET /api/v1/translations: the connections
// whose reports went through NAT on the node recently.
type Translations struct {
	Node string `json:"node"`
	// Max is the table's bound; Evicted counts connections dropped to make
	// room (their reports reach the collector without their Service),
	// Expired those idle past the table's idle time, Ended those whose
	// 5-tuple a connection without NAT took over.
	Max         int           `json:"max"`
	Evicted     uint64        `json:"evicted"`
	Expired     uint64        `json:"expired"`
	Ended       uint64        `json:"ended"`
	Connections []Translation `json:"connections"`
}

// Translation is one connection NAT rewrote, in its original direction
// (client to server). Ports are 0 for protocols without them.
type Translation struct {
	// ID is unique to this connection's entry for the daemon's life and
	// across restarts: a 5-tuple that another connection reuses gets
	// another ID.
	ID    uint64 `json:"id"`
	Proto uint8  `json:"proto"`
	// Src and Dst are the connection as it left the node (after NAT): the
	// flow its request reports carry.
	Src string `json:"src"`
	Dst string `json:"dst"`
	// Client is the source before SNAT (equal to Src without masquerade).
	Client string `json:"client"`
	// Service is the destination before DNAT (a ClusterIP:port or a
	// node:nodePort); "" when only the source was translated.
	Service string `json:"service,omitempty"`
	// Ages, by the node's clock, of the connection's first and last
	// report: durations, so no clock is compared between node and reader.
	FirstSeenAgoMs int64 `json:"first_seen_ago_ms"`
	LastSeenAgoMs  int64 `json:"last_seen_ago_ms"`
}
