// Package pipeline holds no code: its tests drive several stages together
// (the routers of several instances, the batcher) on a recording broker,
// as the consumers would, to check what they decide between them.
package pipeline
