package extract_test

import (
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/extract"
)

var csvFiles = []string{extract.PopulationFile, extract.EvidenceFile, extract.ComplianceFile, extract.ExceptionsFile,
	extract.GapsFile, extract.SampleFile}

// soffice runs LibreOffice headless with a throwaway profile (a shared
// profile is locked by any running instance, and tests must not touch the
// user's), or skips when it is not installed, except under CI.
func soffice(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("soffice")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("soffice not found: install libreoffice-calc (CI must check that spreadsheets open the extract)")
		}
		t.Skip("soffice not found (apt-get install libreoffice-calc), so the CSV and XLSX files are not opened in LibreOffice")
	}
	profile := "file://" + filepath.ToSlash(t.TempDir())
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"-env:UserInstallation=" + profile, "--headless"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// readPlain parses a CSV LibreOffice wrote (UTF-8, no BOM).
func readPlain(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

func TestFilesOpenInLibreOffice(t *testing.T) {
	st := fleet(t)
	dir, _ := write(t, st, options(t))

	t.Run("each CSV reads back cell for cell", func(t *testing.T) {
		// The import options are what LibreOffice's dialog shows for these
		// files: comma, double quote, UTF-8 (the BOM), every column as
		// text so that nothing is reformatted as a number or date.
		var cols []string
		for i := 1; i <= 30; i++ {
			cols = append(cols, fmt.Sprintf("%d/2", i))
		}
		out := t.TempDir()
		args := []string{"--infilter=CSV:44,34,76,1," + strings.Join(cols, "/"),
			"--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1", "--outdir", out}
		for _, f := range csvFiles {
			args = append(args, filepath.Join(dir, f))
		}
		soffice(t, args...)
		for _, f := range csvFiles {
			want, got := readCSV(t, filepath.Join(dir, f)), readPlain(t, filepath.Join(out, f))
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("%s through LibreOffice:\n got %q\nwant %q", f, got, want)
			}
		}
		pop := readPlain(t, filepath.Join(out, extract.PopulationFile))
		if !slices.Contains(column(t, pop, "hostname"), zoe) {
			t.Errorf("%q did not survive LibreOffice: %q", zoe, column(t, pop, "hostname"))
		}
		if !slices.Contains(column(t, readPlain(t, filepath.Join(out, extract.EvidenceFile)), "error"), tricky) {
			t.Errorf("a field with a comma, quotes and a line break did not survive LibreOffice")
		}
	})

	t.Run("the workbook has every CSV as a sheet, values unchanged", func(t *testing.T) {
		out := t.TempDir()
		// Sheet -1 writes every sheet to its own file, evidence-<sheet>.csv.
		soffice(t, "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
			"--outdir", out, filepath.Join(dir, extract.WorkbookFile))
		for _, f := range csvFiles {
			want := readCSV(t, filepath.Join(dir, f))
			for _, rec := range want {
				for i, v := range rec {
					// The workbook holds values as they are; only the CSV
					// neutralises formula-like text.
					if len(v) > 1 && v[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(v[1])) {
						rec[i] = v[1:]
					}
				}
			}
			got := readPlain(t, filepath.Join(out, "evidence-"+strings.TrimSuffix(f, ".csv")+".csv"))
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("sheet %s:\n got %q\nwant %q", f, got, want)
			}
		}
	})
}
