package osqueryd

import (
	"os"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		status string
		want   int64
		ok     bool
	}{
		{"Name:\tosqueryd\nVmPeak:\t  300000 kB\nVmRSS:\t   51200 kB\nRssAnon:\t 40000 kB\n", 51200 * 1024, true},
		{"Name:\tkthreadd\nState:\tS (sleeping)\n", 0, false}, // kernel thread: no VmRSS
		{"VmRSS:\tlots kB\n", 0, false},
		{"VmRSS:\t12 MB\n", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseVmRSS([]byte(tt.status))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, %v", tt.status, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseStatPPID(t *testing.T) {
	tests := []struct {
		stat string
		want int
		ok   bool
	}{
		{"4242 (osqueryd) S 4200 4242 4242 0 -1 4194560", 4200, true},
		{"77 (osqueryd: worker) S 4242 4242 4242 0 -1", 4242, true},
		{"9 (a) b) (c) R 1 9 9", 1, true},
		{"9 (broken", 0, false},
		{"9 (x) S", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseStatPPID([]byte(tt.stat))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseStatPPID(%q) = %d, %v; want %d, %v", tt.stat, got, ok, tt.want, tt.ok)
		}
	}
}

func TestTreeRSSOfThisProcess(t *testing.T) {
	rss, err := treeRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("treeRSS(self) = %d, %v", rss, err)
	}
	if _, err := treeRSS(1 << 30); err == nil {
		t.Error("treeRSS of a pid that does not exist succeeded")
	}
}
