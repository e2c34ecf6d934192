package metrics

import "strings"

// Workload is the name of what runs a pod, from the pod's name alone (the
// node daemons do not know owner references): a Deployment's pod
// web-7d9f8c6b5-x2x7q is web, a DaemonSet's or Job's agent-x2x7q is agent,
// a StatefulSet's db-0 is db; any other name is itself. "unknown" for no
// pod. It keeps the latency histogram's labels per workload, not per pod.
func Workload(pod string) string {
	if pod == "" {
		return "unknown"
	}
	parts := strings.Split(pod, "-")
	if len(parts) < 2 {
		return pod
	}
	last := parts[len(parts)-1]
	switch {
	case len(last) == 5 && generated(last):
		parts = parts[:len(parts)-1]
		if n := len(parts); n >= 2 && len(parts[n-1]) >= 6 && len(parts[n-1]) <= 10 && generated(parts[n-1]) {
			parts = parts[:n-1] // a ReplicaSet's pod-template-hash
		}
	case digits(last):
		parts = parts[:len(parts)-1]
	default:
		return pod
	}
	return strings.Join(parts, "-")
}

// generated: only the characters Kubernetes uses for random name suffixes
// (no vowels, no 0, 1, 3: no words, no confusable digits).
func generated(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", c) {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
