// Package deploy holds what a cluster needs besides the binary: the topic
// definitions (embedded here so every process applies the same ones), the
// Dockerfile with the scripts that lay out, build and run its image
// (rootfs.sh, image.sh), the Kubernetes manifests (kubernetes/), and the
// scripts that start real Kafka and Elasticsearch for development and
// tests.
package deploy

import _ "embed"

// TopicsYAML is deploy/topics.yaml, the topics every tousu process creates
// or verifies at start.
//
//go:embed topics.yaml
var TopicsYAML []byte
