package tinydl

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// notWrapped lists the C functions this package deliberately leaves out, with the reason.
var notWrapped = map[string]string{
	"tdl_ctx_create_with_allocator": "allocator hooks would be Go callbacks run inside every allocation",
	"tdl_node_data":                 "a pointer into memory the library reuses; values are read by copy (ReadFloat32)",
}

func headerDir() string {
	if d := os.Getenv("TINYDL_INCLUDE_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "include", "tiny-dl")
}

var (
	commentRe = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)
	declRe    = regexp.MustCompile(`TDL_API[^;(]*?\b(tdl_[a-z0-9_]+)\s*\(`)
	// a call from Go (C.tdl_x) or from a C helper in a preamble (tdl_x)
	useRe         = regexp.MustCompile(`(?:\bC\.|[^A-Za-z0-9_.])(tdl_[a-z0-9_]+)\(`)
	lineCommentRe = regexp.MustCompile(`//[^\n]*`)
	typedefRe     = regexp.MustCompile(`typedef\s+[^;(]*?\b(tdl_[a-z0-9_]+)\s*;`)
)

// headerFunctions returns the TDL_API functions and the typedef names (which
// cgo code also writes as C.name(...), for conversions) of the public headers.
func headerFunctions(t *testing.T) (map[string]bool, map[string]bool) {
	files, err := filepath.Glob(filepath.Join(headerDir(), "*.h"))
	if err != nil || len(files) < 5 {
		t.Fatalf("headers not found in %s (set TINYDL_INCLUDE_DIR): %v", headerDir(), err)
	}
	fns := map[string]bool{}
	types := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := commentRe.ReplaceAllString(string(src), " ")
		var code []string
		for _, line := range strings.Split(text, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "#") {
				code = append(code, line)
			}
		}
		joined := strings.Join(code, "\n")
		for _, m := range declRe.FindAllStringSubmatch(joined, -1) {
			fns[m[1]] = true
		}
		for _, m := range typedefRe.FindAllStringSubmatch(joined, -1) {
			types[m[1]] = true
		}
	}
	if len(fns) < 100 {
		t.Fatalf("parsed only %d functions from %s", len(fns), headerDir())
	}
	return fns, types
}

func usedFunctions(t *testing.T) map[string]bool {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code := lineCommentRe.ReplaceAllString(string(src), "") // mentions in comments do not count
		for _, m := range useRe.FindAllStringSubmatch(code, -1) {
			used[m[1]] = true
		}
	}
	return used
}

// TestCoverage checks that every TDL_API function of the headers is called by
// this package or listed in notWrapped, and that the package calls nothing the
// headers lack (cgo would fail to build then anyway).
func TestCoverage(t *testing.T) {
	header, types := headerFunctions(t)
	used := usedFunctions(t)
	for name := range types {
		delete(used, name) // C.tdl_status(x) is a conversion, not a call
	}
	var missing, extra, stale []string
	for f := range header {
		if !used[f] && notWrapped[f] == "" {
			missing = append(missing, f)
		}
	}
	for f := range used {
		if !header[f] {
			extra = append(extra, f)
		}
	}
	for f, why := range notWrapped {
		if why != "" && (!header[f] || used[f]) {
			stale = append(stale, f)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("TDL_API functions not wrapped (wrap them or list them in notWrapped): %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("functions called but not in the headers: %v", extra)
	}
	if len(stale) > 0 {
		t.Errorf("notWrapped entries that are wrapped or gone: %v", stale)
	}
	t.Logf("%d header functions, %d wrapped, %d deliberately not", len(header), len(used), len(notWrapped))
}
