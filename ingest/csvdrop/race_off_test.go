//go:build !race

package csvdrop

// raceEnabled reports a build with the race detector.
const raceEnabled = false
