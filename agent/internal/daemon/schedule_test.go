package daemon

import (
	"math/rand/v2"
	"testing"
	"time"
)

const draws = 20000

func TestFirstDelaySpreadsStartsOverAtMostAMinute(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		wantMax  time.Duration // exclusive upper bound
	}{
		{"hourly check starts within the first minute", time.Hour, time.Minute},
		{"daily check starts within the first minute", 24 * time.Hour, time.Minute},
		{"catalog minimum interval starts within the first minute", 5 * time.Minute, time.Minute},
		{"exactly one minute", time.Minute, time.Minute},
		{"sub-minute interval starts within one interval", 30 * time.Second, 30 * time.Second},
		{"tiny interval", 3 * time.Nanosecond, 3 * time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			lo, hi := tt.wantMax, time.Duration(-1)
			for range draws {
				d := firstDelay(r, tt.interval)
				if d < 0 || d >= tt.wantMax {
					t.Fatalf("firstDelay(%s) = %s, want within [0, %s)", tt.interval, d, tt.wantMax)
				}
				lo, hi = min(lo, d), max(hi, d)
			}
			// The point is to spread a fleet: draws must cover the range,
			// not cluster at one end.
			if tenth := tt.wantMax / 10; tenth > 0 && (lo >= tenth || hi < tt.wantMax-tenth) {
				t.Errorf("firstDelay(%s) drew only [%s, %s] in %d draws; want the whole [0, %s)", tt.interval, lo, hi, draws, tt.wantMax)
			}
		})
	}
}

func TestNextDelayIsIntervalWithinTenPercent(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
	}{
		{"five minutes", 5 * time.Minute},
		{"hourly", time.Hour},
		{"daily", 24 * time.Hour},
		{"odd nanoseconds", 1234567891 * time.Nanosecond},
		{"too small to jitter", 9 * time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			j := tt.interval / 10
			lo, hi := tt.interval+j, tt.interval-j
			for range draws {
				d := nextDelay(r, tt.interval)
				if d < tt.interval-j || d > tt.interval+j {
					t.Fatalf("nextDelay(%s) = %s, want within %s ± %s", tt.interval, d, tt.interval, j)
				}
				lo, hi = min(lo, d), max(hi, d)
			}
			if j == 0 {
				if lo != tt.interval || hi != tt.interval {
					t.Errorf("nextDelay(%s) drew [%s, %s], want exactly the interval", tt.interval, lo, hi)
				}
				return
			}
			// Jitter goes both ways and reaches near both bounds.
			if lo > tt.interval-j*9/10 || hi < tt.interval+j*9/10 {
				t.Errorf("nextDelay(%s) drew only [%s, %s] in %d draws; want close to %s ± %s", tt.interval, lo, hi, draws, tt.interval, j)
			}
		})
	}
}
