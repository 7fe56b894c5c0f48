package extract

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

func TestSampleIsAReproducibleDraw(t *testing.T) {
	frame := []string{"dev-j", "dev-a", "dev-c", "dev-b", "dev-e", "dev-d", "dev-g", "dev-f", "dev-i", "dev-h"}
	cases := []struct {
		name string
		n    int
		seed uint64
		want []string
	}{
		// Pinned: a change here means auditors can no longer re-derive
		// samples in bundles already handed over.
		{"pinned draw for seed 42", 4, 42, []string{"dev-d", "dev-f", "dev-j", "dev-b"}},
		{"fewer draws are a prefix of more", 2, 42, []string{"dev-d", "dev-f"}},
		{"another seed, another draw", 4, 43, nil},
		{"none requested", 0, 42, []string{}},
		{"more than the frame takes it all", 50, 42, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Sample(frame, c.n, c.seed)
			if c.want != nil && !slices.Equal(got, c.want) {
				t.Errorf("Sample(n=%d, seed=%d) = %q, want %q", c.n, c.seed, got, c.want)
			}
			if len(got) != min(c.n, len(frame)) {
				t.Errorf("drew %d, want %d", len(got), min(c.n, len(frame)))
			}
			if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
				t.Errorf("a device drawn twice: %q", got)
			}
			shuffled := slices.Clone(frame)
			slices.Reverse(shuffled)
			if !slices.Equal(Sample(shuffled, c.n, c.seed), got) {
				t.Error("the draw depends on the order the frame was given in")
			}
		})
	}
	if slices.Equal(Sample(frame, 4, 42), Sample(frame, 4, 43)) {
		t.Error("seeds 42 and 43 draw the same devices")
	}
}

func TestSampleDrawsEveryDeviceAboutEquallyOften(t *testing.T) {
	frame := []string{"a", "b", "c", "d", "e"}
	counts := map[string]int{}
	const runs = 5000
	for seed := range uint64(runs) {
		counts[Sample(frame, 1, seed)[0]]++
	}
	for _, id := range frame {
		if n := counts[id]; n < runs/5*8/10 || n > runs/5*12/10 {
			t.Errorf("%s drawn first %d times in %d runs, want about %d", id, n, runs, runs/5)
		}
	}
}

func TestDefaultSeedIsFixedByControlsAndPeriod(t *testing.T) {
	a := DefaultSeed([]string{"CC6.1", "CC7.1"}, "2026-01-01", "2026-06-30")
	if a != DefaultSeed([]string{"CC6.1", "CC7.1"}, "2026-01-01", "2026-06-30") {
		t.Error("not deterministic")
	}
	if a == DefaultSeed([]string{"CC6.1"}, "2026-01-01", "2026-06-30") || a == DefaultSeed([]string{"CC6.1", "CC7.1"}, "2026-01-01", "2026-07-31") {
		t.Error("another request gives the same seed")
	}
}

func TestSigningKeyIsCreatedOnceAndKeptPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth", "manifest.key")
	// Concurrent first uses must agree on one key.
	keys := make([]ed25519.PrivateKey, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !k.Equal(keys[0]) {
			t.Fatal("concurrent first uses created different keys")
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, err := LoadOrCreateKey(path)
	if err != nil || !again.Equal(keys[0]) {
		t.Errorf("reloading gave another key (%v)", err)
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("key file is not PKCS#8 PEM: %.40q", b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left next to the key: %v", entries)
	}
	os.WriteFile(path, []byte("garbage"), 0o600)
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Error("a corrupt key file was accepted (or silently replaced)")
	}
}

func TestFingerprintsCompareAsPeopleTypeThem(t *testing.T) {
	fp := Fingerprint(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
	hex := strings.TrimPrefix(fp, "SHA256:")
	var pairs []string
	for i := 0; i < len(hex); i += 2 {
		pairs = append(pairs, hex[i:i+2])
	}
	for _, typed := range []string{fp, hex, strings.ToUpper(fp), "sha256:" + strings.Join(pairs, ":"), " " + hex + "\n"} {
		if !SameFingerprint(fp, typed) {
			t.Errorf("%q does not match %q", typed, fp)
		}
	}
	for _, typed := range []string{"", "SHA256:", hex[:60]} {
		if SameFingerprint(fp, typed) {
			t.Errorf("%q matches %q", typed, fp)
		}
	}
}

func TestCSVCellsThatLookLikeFormulasAreNeutralised(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"Zoë's MacBook":    "Zoë's MacBook",
		"=1+1":             "'=1+1",
		"+49 30 1234":      "'+49 30 1234",
		"-1 days":          "'-1 days",
		"@SUM(A1)":         "'@SUM(A1)",
		"\tx":              "'\tx",
		"[{\"a\":\"=1\"}]": "[{\"a\":\"=1\"}]",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWorkbookContinuesLongTablesAndCutsLongCells(t *testing.T) {
	defer func(rows, chars int) { maxSheetRows, maxCellChars = rows, chars }(maxSheetRows, maxCellChars)
	maxSheetRows, maxCellChars = 3, 120 // a header and two rows per sheet; room for the note
	save := func() ([]byte, *excelize.File) {
		dir := t.TempDir()
		b, err := newWorkbook(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer b.close()
		s, err := b.newSheet("evidence", []string{"n", "text"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			text := "short"
			if i == 4 {
				text = strings.Repeat("é", 200)
			}
			if err := s.add([]string{fmt.Sprint(i), text}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
		if b.Truncated != 1 {
			t.Errorf("%d cells cut, want 1", b.Truncated)
		}
		path := filepath.Join(dir, "w.xlsx")
		if err := b.save(path, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		f, err := excelize.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return raw, f
	}
	raw, f := save()
	if got := f.GetSheetList(); !slices.Equal(got, []string{"evidence", "evidence (2)", "evidence (3)"}) {
		t.Errorf("sheets %q", got)
	}
	rows, _ := f.GetRows("evidence (3)")
	if len(rows) != 2 || rows[0][0] != "n" || !strings.HasSuffix(rows[1][1], truncatedNote) || utf16Len(rows[1][1]) > 120 || !strings.HasPrefix(rows[1][1], "éé") {
		t.Errorf("last sheet: %q", rows)
	}
	props, _ := f.GetDocProps()
	if props.Created != "2026-07-01T00:00:00Z" || props.Modified != "2026-07-01T00:00:00Z" {
		t.Errorf("document times %s %s, want the time given", props.Created, props.Modified)
	}
	if again, _ := save(); !bytes.Equal(raw, again) {
		t.Error("the same sheets saved twice differ")
	}
}

func TestIntervalsPrintShort(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 6 * time.Hour: "6h", 30 * time.Minute: "30m",
		90 * time.Minute: "1h30m", 5*time.Minute + 30*time.Second: "5m30s"} {
		if got := interval(d); got != want {
			t.Errorf("interval(%v) = %q, want %q", d, got, want)
		}
	}
}
