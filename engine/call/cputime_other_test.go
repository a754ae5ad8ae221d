//go:build !unix

package call

import "time"

// processCPU is not measured here: benchmarks report 0 CPU per call.
func processCPU() time.Duration { return 0 }
