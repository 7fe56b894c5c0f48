package pkg

import (
	"os/exec"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in, deb, apk string
	}{
		{"v1.2.3", "1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3", "1.2.3"},
		{"v1.2.3-rc.1", "1.2.3~rc.1", "1.2.3_rc1"},
		{"v1.2.3-beta", "1.2.3~beta", "1.2.3_beta"},
		{"v1.2.3-dirty", "1.2.3+dirty", "1.2.3"},
		{"v1.2.3+build-7", "1.2.3+build.7", "1.2.3"},
		{"v1.2.3-4-gabc1234", "1.2.3+git4.abc1234", "1.2.3_p4"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+git4.abc1234.dirty", "1.2.3_p4"},
		{"v1.2.3-rc.1-4-gabc1234", "1.2.3~rc.1+git4.abc1234", "1.2.3_rc1_p4"},
		{"4420fcb", "0.0.0~dev+git0.4420fcb", "0.0.0_pre0"},
		{"4420fcb-dirty", "0.0.0~dev+git0.4420fcb.dirty", "0.0.0_pre0"},
		{"dev", "0.0.0~dev", "0.0.0_pre0"},
		{"", "0.0.0~dev", "0.0.0_pre0"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			v, err := ParseVersion(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.String(); got != tc.deb {
				t.Errorf("deb/rpm version %q, want %q", got, tc.deb)
			}
			apk := strings.TrimSuffix(strings.TrimPrefix(FileName("x", "apk", v, "amd64"), "x_"), "_amd64.apk")
			if apk != tc.apk {
				t.Errorf("apk version %q, want %q", apk, tc.apk)
			}
		})
	}
	for _, bad := range []string{"1.2", "release-7", "1.2.3 beta"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted it", bad)
		}
	}
}

// TestVersionOrder asks dpkg and rpm themselves whether the versions of a
// project's history sort in the order they were built, so an upgrade from
// an untagged build to the first release, or from a tag to a later
// commit, is an upgrade and not a downgrade apt or yum refuses.
func TestVersionOrder(t *testing.T) {
	history := []string{
		"4420fcb", "v0.9.0", "v0.9.0-2-g1111111", "v1.0.0-rc.1", "v1.0.0-rc.1-3-g2222222", "v1.0.0-rc.2",
		"v1.0.0", "v1.0.0-1-g3333333", "v1.0.0-12-g4444444", "v1.0.1", "v1.10.0",
	}
	vs := make([]string, len(history))
	for i, h := range history {
		v, err := ParseVersion(h)
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = v.String()
	}
	t.Run("dpkg", func(t *testing.T) {
		dpkg := need(t, "dpkg", "dpkg")
		for i := 1; i < len(vs); i++ {
			if err := exec.Command(dpkg, "--compare-versions", vs[i-1], "lt", vs[i]).Run(); err != nil {
				t.Errorf("dpkg: %s (%s) does not sort before %s (%s)", vs[i-1], history[i-1], vs[i], history[i])
			}
		}
	})
	t.Run("rpm", func(t *testing.T) {
		rpm := need(t, "rpm", "rpm")
		for i := 1; i < len(vs); i++ {
			expr := `%{lua: print(rpm.vercmp("` + vs[i-1] + `", "` + vs[i] + `"))}`
			out, err := exec.Command(rpm, "--eval", expr).CombinedOutput()
			if err != nil {
				t.Fatalf("rpm --eval: %v\n%s", err, out)
			}
			if strings.TrimSpace(string(out)) != "-1" {
				t.Errorf("rpm: %s (%s) does not sort before %s (%s): vercmp %s", vs[i-1], history[i-1], vs[i], history[i], out)
			}
		}
	})
}
