// Package deploy holds what a cluster needs besides the binary: the topic
// definitions (embedded here so every process applies the same ones), the
// Dockerfile, and the scripts that start real Kafka and Elasticsearch for
// development and tests.
package deploy

import _ "embed"

// TopicsYAML is deploy/topics.yaml, the topics every tousu process creates
// or verifies at start.
//
//go:embed topics.yaml
var TopicsYAML []byte
