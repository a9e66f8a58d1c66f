// Package ops is what the operations page shows of a deployment: the
// heartbeat every process announces on bus.TopicHeartbeat (its targets,
// version, host and, for the gateway and the poller, the health of its
// intake channels), the deployment a console replica follows from those
// beats into memory, and the short history of the pipeline's lag the
// console samples every 15 seconds into a ring buffer.
//
// The rules it applies are pure functions: Silent (a channel has gone
// quiet for longer than its usual rhythm) and Lost (a process missed three
// beats).
package ops
