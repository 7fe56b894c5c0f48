package dashboards_test

import (
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/dashboards"
)

var (
	attrRe      = regexp.MustCompile(`(?i)\s(src|href)\s*=\s*["']([^"']*)["']`)
	cssURLRe    = regexp.MustCompile(`(?i)url\(\s*["']?([^"')]*)`)
	remoteRe    = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	scriptTagRe = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
)

func get(t *testing.T, url string) (string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(body), resp.Header.Get("Content-Type")
}

// TestWebUIUsesOnlyEmbeddedAssets serves the UI as the collector will
// (http.FileServerFS over Web) and checks that the page loads nothing from
// anywhere else: every reference resolves to an embedded file, no asset
// names a remote host, and the CSP would block it anyway.
func TestWebUIUsesOnlyEmbeddedAssets(t *testing.T) {
	t.Parallel()
	web := dashboards.Web()
	srv := httptest.NewServer(http.FileServerFS(web))
	t.Cleanup(srv.Close)

	html, ctype := get(t, srv.URL+"/")
	if !strings.HasPrefix(ctype, "text/html") {
		t.Errorf("/ served as %q", ctype)
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html: Content-Security-Policy lacks %q", want)
		}
	}
	// Inline script and style would need 'unsafe-inline', which the CSP
	// rightly refuses.
	for _, m := range scriptTagRe.FindAllStringSubmatch(html, -1) {
		if strings.TrimSpace(m[2]) != "" || !strings.Contains(m[1], "src=") {
			t.Errorf("index.html: inline script %q", m[0])
		}
	}
	if strings.Contains(html, "<style") || strings.Contains(html, " style=") {
		t.Error("index.html: inline style")
	}

	refs := map[string]bool{}
	for _, m := range attrRe.FindAllStringSubmatch(html, -1) {
		refs[m[2]] = true
	}
	if len(refs) == 0 {
		t.Fatal("index.html references no assets; the extractor is broken")
	}
	used := map[string]bool{"index.html": true}
	for ref := range refs {
		if remoteRe.MatchString(ref) || strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") {
			t.Errorf("index.html references %q: only relative paths to embedded files", ref)
			continue
		}
		name := path.Clean(ref)
		if _, err := fs.Stat(web, name); err != nil {
			t.Errorf("index.html references %q, which is not embedded", ref)
			continue
		}
		used[name] = true
		body, ctype := get(t, srv.URL+"/"+name)
		if want := mime.TypeByExtension(path.Ext(name)); !strings.HasPrefix(ctype, strings.Split(want, ";")[0]) {
			t.Errorf("%s served as %q, want %q", name, ctype, want)
		}
		if m := remoteRe.FindString(body); m != "" {
			t.Errorf("%s names a remote location %q", name, m)
		}
		for _, u := range cssURLRe.FindAllStringSubmatch(body, -1) {
			if _, err := fs.Stat(web, u[1]); err != nil {
				t.Errorf("%s: url(%s) is not embedded", name, u[1])
			}
		}
		if strings.Contains(body, "@import") {
			t.Errorf("%s: @import loads a stylesheet the page does not list", name)
		}
	}

	err := fs.WalkDir(web, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !used[p] {
			t.Errorf("%s is embedded but index.html does not use it", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWebUIWritesNoHTML: hostnames, reasons and details come from devices,
// so the page must only ever set text.
func TestWebUIWritesNoHTML(t *testing.T) {
	t.Parallel()
	js, err := fs.ReadFile(dashboards.Web(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(string(js), sink) {
			t.Errorf("app.js uses %s; build elements and set textContent", sink)
		}
	}
	if !strings.Contains(string(js), "/posture") || !strings.Contains(string(js), "Bearer ") {
		t.Error("app.js does not call the posture API with a bearer token")
	}
}
