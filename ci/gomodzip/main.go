// Command gomodzip writes a Go module into a file-based module proxy
// (GOPROXY=file:///...): DIR/MODULE/@v/{list,VERSION.info,VERSION.mod,VERSION.zip},
// the layout `go get` reads. The zip is made by golang.org/x/mod/zip, the
// code the go command itself uses, so its checks (file names, sizes, case
// collisions) are the go command's.
//
//	gomodzip -proxy DIR -module PATH -version vX.Y.Z -src DIR_WITH_GO_MOD
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

func main() {
	proxy := flag.String("proxy", "", "proxy directory")
	path := flag.String("module", "", "module path")
	version := flag.String("version", "", "version (vX.Y.Z)")
	src := flag.String("src", "", "module source directory (with go.mod)")
	flag.Parse()
	if err := run(*proxy, *path, *version, *src); err != nil {
		fmt.Fprintln(os.Stderr, "gomodzip:", err)
		os.Exit(1)
	}
}

func run(proxy, path, version, src string) error {
	if proxy == "" || path == "" || version == "" || src == "" {
		return fmt.Errorf("-proxy, -module, -version and -src are required")
	}
	if !semver.IsValid(version) {
		return fmt.Errorf("version %q is not a semantic version", version)
	}
	goMod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return err
	}
	mf, err := modfile.ParseLax("go.mod", goMod, nil)
	if err != nil {
		return err
	}
	if mf.Module == nil || mf.Module.Mod.Path != path {
		return fmt.Errorf("%s/go.mod declares another module than %s", src, path)
	}
	escaped, err := module.EscapePath(path)
	if err != nil {
		return err
	}
	dir := filepath.Join(proxy, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mv := module.Version{Path: path, Version: version}
	zf, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		return err
	}
	if err := modzip.CreateFromDir(zf, mv, src); err != nil {
		zf.Close()
		return err
	}
	if err := zf.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, version+".mod"), goMod, 0o644); err != nil {
		return err
	}
	info, _ := json.Marshal(map[string]string{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	if err := os.WriteFile(filepath.Join(dir, version+".info"), info, 0o644); err != nil {
		return err
	}
	// list: every version in the directory, one a line.
	var versions []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if v, ok := strings.CutSuffix(e.Name(), ".zip"); ok && semver.IsValid(v) {
			versions = append(versions, v)
		}
	}
	sort.Slice(versions, func(i, j int) bool { return semver.Compare(versions[i], versions[j]) < 0 })
	return os.WriteFile(filepath.Join(dir, "list"), []byte(strings.Join(versions, "\n")+"\n"), 0o644)
}
