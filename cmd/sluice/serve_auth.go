package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
)

// authConfig is what `sluice serve` reads about authentication.
type authConfig struct {
	credentials  string // file
	insecure     bool
	allowedHosts string
	tlsOnly      bool
	// Read from the environment only, never from flags (which other
	// users of the machine can see in the process list).
	rootKeyID, rootSecret string
}

func authFlags(fs *flag.FlagSet, c *authConfig) {
	fs.StringVar(&c.credentials, "credentials", "", "credentials `file` (JSON: principals, their access keys and identity policies); with it every request's SigV4 signature is verified and policies are enforced. Reloaded when it changes or on SIGHUP")
	fs.BoolVar(&c.insecure, "insecure", false, "serve without credentials on an address other than loopback (anyone who can reach it can read and write every stream)")
	fs.StringVar(&c.allowedHosts, "allowed-hosts", "", "comma-separated host `names` clients may use in the Host header (\".example.com\" allows subdomains); default: the loopback names when serving on loopback only, else any")
	fs.BoolVar(&c.tlsOnly, "tls-only", false, "serve only the TLS listener (--tls-addr), no plaintext one")
}

// credentialsEnv are the environment variables that give the server one
// access key of the account's root user, for containers where a file is
// awkward. They are not flags: flags show in the process list.
const (
	envRootKeyID  = "SLUICE_ACCESS_KEY_ID"
	envRootSecret = "SLUICE_SECRET_ACCESS_KEY"
)

// loadCredentials reads the credentials file and the environment's root
// key; nil when neither is given (an open server).
func loadCredentials(c authConfig, account string) (*auth.Config, error) {
	if (c.rootKeyID == "") != (c.rootSecret == "") {
		return nil, fmt.Errorf("%s and %s go together", envRootKeyID, envRootSecret)
	}
	var cfg *auth.Config
	if c.credentials != "" {
		data, err := os.ReadFile(c.credentials)
		if err != nil {
			return nil, fmt.Errorf("--credentials: %w", err)
		}
		if cfg, err = auth.ParseConfig(data); err != nil {
			return nil, fmt.Errorf("--credentials %s: %w", c.credentials, err)
		}
	}
	if c.rootKeyID != "" {
		var err error
		if cfg, err = cfg.WithRootKey(account, c.rootKeyID, c.rootSecret); err != nil {
			return nil, fmt.Errorf("%s: %w", envRootKeyID, err)
		}
	}
	return cfg, nil
}

// checkExposure refuses to serve an open server on an address other than
// loopback unless told --insecure. It is called with the addresses to
// listen on before listening (an IP or an empty host settles it without
// binding), then with the listeners (a host name resolved).
func checkExposure(c authConfig, open bool, addrs ...net.Addr) error {
	if !open || c.insecure {
		return nil
	}
	for _, a := range addrs {
		if a != nil && !isLoopback(a) {
			return fmt.Errorf("refusing to serve on %s without credentials: anyone who can reach it could read, write and delete every stream. "+
				"Give --credentials FILE (or %s and %s), serve on 127.0.0.1, or pass --insecure to serve it open anyway",
				a, envRootKeyID, envRootSecret)
		}
	}
	return nil
}

// literalAddr is hostPort as a TCP address when its host is an IP or
// empty (every interface), nil for a name (known only once resolved).
func literalAddr(hostPort string) net.Addr {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil
	}
	p, _ := strconv.Atoi(port)
	if host == "" {
		return &net.TCPAddr{IP: net.IPv6unspecified, Port: p}
	}
	if ip := net.ParseIP(host); ip != nil {
		return &net.TCPAddr{IP: ip, Port: p}
	}
	return nil
}

// listenerAddrs are the addresses of the listeners that exist.
func listenerAddrs(lns ...net.Listener) []net.Addr {
	var out []net.Addr
	for _, ln := range lns {
		if ln != nil {
			out = append(out, ln.Addr())
		}
	}
	return out
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// allowedHosts are the Host header values the server answers: the names
// given, else the loopback names (and the addresses listened on) when
// every listener is on loopback, else any (nil).
func allowedHosts(c authConfig, listeners ...net.Listener) []string {
	if c.allowedHosts != "" {
		var hosts []string
		for h := range strings.SplitSeq(c.allowedHosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hosts = append(hosts, h)
			}
		}
		return hosts
	}
	hosts := []string{"localhost", ".localhost", "127.0.0.1", "::1"}
	for _, ln := range listeners {
		if ln == nil {
			continue
		}
		if !isLoopback(ln.Addr()) {
			return nil
		}
		hosts = append(hosts, ln.Addr().(*net.TCPAddr).IP.String())
	}
	return hosts
}

// reloadCredentials re-reads the credentials when the file changes (polled
// every interval) or the process gets SIGHUP, until ctx ends. A file that
// no longer parses is reported and the credentials in use are kept.
func reloadCredentials(ctx context.Context, c authConfig, account string, gate *auth.Gate, logger *slog.Logger, interval time.Duration) {
	if c.credentials == "" {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(interval)
	defer t.Stop()
	last := fileStamp(c.credentials)
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-hup:
			forced = true
		case <-t.C:
		}
		stamp := fileStamp(c.credentials)
		if !forced && stamp == last {
			continue
		}
		last = stamp
		cfg, err := loadCredentials(c, account)
		if err != nil {
			logger.Error("credentials not reloaded; keeping those in use", "err", err)
			continue
		}
		gate.SetConfig(cfg)
		logger.Info("credentials reloaded", "file", c.credentials, "access_keys", cfg.Keys())
	}
}

// fileStamp identifies a version of a file: its size and modification
// time ("" when it cannot be read).
func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "missing"
		}
		return ""
	}
	return fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
}

// credentialsSource names where the server's access keys come from.
func credentialsSource(c authConfig) string {
	switch {
	case c.credentials != "" && c.rootKeyID != "":
		return c.credentials + " and " + envRootKeyID
	case c.credentials != "":
		return c.credentials
	}
	return envRootKeyID
}
