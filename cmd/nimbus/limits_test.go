package main

import (
	"log/slog"
	"testing"
)

func TestAPIConnectionLimit(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		fileLimit uint64
		envs      int
		want      int
	}{
		{1 << 20, 94, maxAPIConnections},                                // a usual hard limit: the cap
		{20000, 94, maxAPIConnections},                                  // the machine of issue 9
		{20000, 400, (20000 - fdsReserved - 400*fdsPerEnvironment) / 2}, // with a 50 GB budget
		{2048, 94, minAPIConnections},                                   // too few: the floor, and a warning
		{uint64(fdsReserved + 10*fdsPerEnvironment + 200), 10, 100},     // half of what is left
	}
	for _, tt := range tests {
		if got := apiConnectionLimit(tt.fileLimit, tt.envs, log); got != tt.want {
			t.Errorf("apiConnectionLimit(%d, %d) = %d, want %d", tt.fileLimit, tt.envs, got, tt.want)
		}
	}
}
