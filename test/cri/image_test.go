package cri

import (
	"bufio"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The offline image (PodintLayout, built with buildah FROM scratch) and the
// Dockerfile, users' build, put the same binaries at the same paths and run
// the same entrypoint.
func TestOfflineImageMatchesTheDockerfile(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string]string{}
	var entrypoint []string
	final := false // instructions of the last stage, the image
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "FROM":
			final = !strings.Contains(sc.Text(), " AS ")
		case "COPY":
			if !final || len(fields) < 4 || !strings.HasPrefix(fields[1], "--from=") {
				continue
			}
			srcs, dst := fields[2:len(fields)-1], fields[len(fields)-1]
			for _, s := range srcs {
				p := dst
				if strings.HasSuffix(dst, "/") {
					p = dst + path.Base(s)
				}
				files[path.Base(s)] = p
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(sc.Text(), "ENTRYPOINT ")), &entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT: %v (want the exec form)", err)
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no COPY --from in the Dockerfile's last stage: the parse is broken")
	}
	if !reflect.DeepEqual(files, PodintLayout.Files) {
		t.Errorf("the Dockerfile puts %v, the offline image %v", files, PodintLayout.Files)
	}
	if !reflect.DeepEqual(entrypoint, PodintLayout.Entrypoint) {
		t.Errorf("the Dockerfile's entrypoint is %q, the offline image's %q", entrypoint, PodintLayout.Entrypoint)
	}
}
