// Package deployments holds podint's Kubernetes manifests (kubernetes/), its
// Helm chart (helm/podint) and the tests that keep the two equal and valid.
// It is a module of its own so that the Helm and Kubernetes libraries these
// tests need stay out of the main module's build. Run its tests with
// `cd deployments && go test ./...`.
package deployments
