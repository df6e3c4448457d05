package console

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The front end: index.html is a template that names every asset with a
// hash of its content, so assets are cached for good and a new build is
// fetched at once. assets/vendor holds the pinned npm libraries that
// web/vendor.sh copies there (see docs/console.md).
//
//go:generate web/vendor.sh
//go:embed assets
var assetFS embed.FS

type asset struct {
	body        []byte
	contentType string
	etag        string
}

type assets struct {
	files map[string]asset // by path under assets/
	index *template.Template
	data  indexData
}

type indexData struct {
	Version string
	URL     map[string]string // asset path -> URL with its hash
}

func loadAssets(version string) (*assets, error) {
	a := &assets{files: make(map[string]asset), data: indexData{Version: version, URL: make(map[string]string)}}
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "assets/")
		sum := sha256.Sum256(b)
		tag := hex.EncodeToString(sum[:8])
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		a.files[rel] = asset{body: b, contentType: ct, etag: `"` + tag + `"`}
		a.data.URL[rel] = "/console/assets/" + rel + "?v=" + tag
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	src, ok := a.files["index.html"]
	if !ok {
		return nil, fmt.Errorf("console assets: no index.html")
	}
	a.index, err = template.New("index").Parse(string(src.body))
	if err != nil {
		return nil, fmt.Errorf("console index: %w", err)
	}
	return a, nil
}

// browserCookie identifies a browser for the per-browser read limits.
const browserCookie = "sluice_console"

// serveIndex serves the single page for every console route.
func (c *Console) serveIndex(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := c.assets.index.Execute(&buf, c.assets.data); err != nil {
		c.logInternal(r, err)
		http.Error(w, "console page failed", http.StatusInternalServerError)
		return
	}
	if _, err := r.Cookie(browserCookie); err != nil {
		http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: rand.Text(), Path: "/console/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	// uPlot sizes its elements through the CSSOM, which style-src does not
	// govern; inline style attributes are still refused.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	w.Write(buf.Bytes())
}

// serveAsset serves an embedded file; a request with the current hash is
// cacheable for a year.
func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	a, ok := c.assets.files[name]
	if !ok || name == "index.html" {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == strings.Trim(a.etag, `"`) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(a.body)
}
