package metrics

import "testing"

func TestWorkload(t *testing.T) {
	for pod, want := range map[string]string{
		"web-7d9f8c6b5-x2x7q": "web",
		"agent-x2x7q":         "agent",
		"db-0":                "db",
		"api-gateway-12":      "api-gateway",
		"standalone":          "standalone",
		"my-pod":              "my-pod", // "pod" has vowels: not a suffix
		"":                    "unknown",
	} {
		if got := Workload(pod); got != want {
			t.Errorf("Workload(%q) = %q, want %q", pod, got, want)
		}
	}
}
