// Package kubernetes holds tousu's Kubernetes manifests (a kustomize base
// and two overlays, see README.md) and, in its test, their strict check:
// every manifest decoded with the official API types and the invariants
// of a tousu deployment verified against the module graph, the topics
// and the configuration. It has no code of its own.
package kubernetes
