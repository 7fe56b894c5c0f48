package posture_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/posture"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// fixed answers Compute's two questions from memory, or fails one.
type fixed struct {
	devices               []store.Device
	latest                []store.Latest
	devicesErr, latestErr error
}

func (f fixed) Devices(context.Context) ([]store.Device, error) { return f.devices, f.devicesErr }
func (f fixed) LatestResults(context.Context, time.Time) ([]store.Latest, error) {
	return f.latest, f.latestErr
}

func TestComputeIsBuildOverTheSourcesAnswers(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	src := fixed{
		devices: []store.Device{device("w1", "windows", at.Add(-time.Hour)), device("m", "darwin", at.Add(-time.Hour))},
		latest:  []store.Latest{latest("w1", "disk_encryption", "fail", at), latest("m", "macos_sip", "pass", at)},
	}
	got, err := posture.Compute(t.Context(), src, at, cat, posture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := posture.Build(at, src.devices, src.latest, cat, posture.Options{}); !reflect.DeepEqual(got, want) {
		t.Errorf("Compute:\n got %+v\nwant %+v", got, want)
	}
	down := errors.New("clickhouse: connection refused")
	for name, f := range map[string]fixed{
		"devices fail": {devicesErr: down},
		"latest fail":  {latestErr: down},
	} {
		if _, err := posture.Compute(t.Context(), f, at, cat, posture.Options{}); !errors.Is(err, down) {
			t.Errorf("%s: err %v, want it wrapped", name, err)
		}
	}
}
