//go:build race

package csvdrop

// raceEnabled reports a build with the race detector, which makes the
// large-file test ten times slower; it then uses fewer rows.
const raceEnabled = true
