package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/opsmetrics"
	"github.com/sluicehq/sluice/internal/server"
)

// serveConfig is everything `sluice serve` reads from flags and the
// environment.
type serveConfig struct {
	addr          string
	dataDir       string
	natsURL       string
	replicas      int
	region        string
	accountID     string
	shardLimit    int
	createDelay   time.Duration
	deleteDelay   time.Duration
	retentionHour time.Duration
	logLevel      string

	consumerCreateDelay  time.Duration
	subscriptionLifetime time.Duration

	pprof         bool
	tlsAddr       string
	tlsCert       string
	tlsKey        string
	tlsSelfSigned bool
	keyring       string
	updateDelay   time.Duration
	shardLimits   string
	autoscale     broker.AutoscaleConfig
	auth          authConfig
	ops           serveOps
	limits        serveLimits

	consoleSample time.Duration
}

func serveFlags(fs *flag.FlagSet, c *serveConfig) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:4567", "`host:port` to serve the Kinesis API and /metrics on")
	fs.StringVar(&c.dataDir, "data-dir", "./sluice-data", "`directory` of the embedded JetStream store")
	fs.StringVar(&c.natsURL, "nats-url", "", "use the NATS JetStream cluster at these comma-separated `urls` instead of the embedded store")
	fs.IntVar(&c.replicas, "replicas", 0, "JetStream replicas per shard with --nats-url (default 3; the embedded store keeps 1)")
	fs.StringVar(&c.region, "region", "us-east-1", "AWS `region` used in ARNs")
	fs.StringVar(&c.accountID, "account-id", "000000000000", "12-digit AWS account `id` used in ARNs")
	fs.IntVar(&c.shardLimit, "shard-limit", 500, "maximum open shards in the account")
	fs.DurationVar(&c.createDelay, "create-stream-delay", 0, "how long a new stream stays CREATING")
	fs.DurationVar(&c.deleteDelay, "delete-stream-delay", 0, "how long a deleted stream stays DELETING")
	fs.DurationVar(&c.retentionHour, "retention-hour", time.Hour, "length of one `hour` of retention; shorten it only to watch records expire in tests")
	fs.DurationVar(&c.consumerCreateDelay, "consumer-create-delay", 0, "how long a new stream consumer stays CREATING")
	fs.DurationVar(&c.subscriptionLifetime, "subscription-lifetime", 5*time.Minute, "how long a SubscribeToShard feed lasts before the client must subscribe again; shorten it only to test resubscribing")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.BoolVar(&c.pprof, "pprof", false, "serve Go profiles under /debug/pprof/ for performance work")
	fs.StringVar(&c.tlsAddr, "tls-addr", "127.0.0.1:4568", "`host:port` of the TLS listener (HTTP/1.1 and h2 by ALPN), served with --tls-cert and --tls-key or --tls-self-signed, beside the plain one")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate `file` for the TLS listener")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key `file` for the TLS listener")
	fs.StringVar(&c.keyring, "keyring", "", "keyring `file` of the keys StartStreamEncryption names (default <data-dir>/keyring.json, created 0600 on first start); every server of a cluster must use the same one")
	fs.DurationVar(&c.updateDelay, "update-stream-delay", 0, "how long a stream stays UPDATING after Start- or StopStreamEncryption, SplitShard, MergeShards, and at least after UpdateShardCount")
	fs.StringVar(&c.shardLimits, "shard-limits", "none", "throttle as AWS does (per-shard throughput, control-plane call rates): aws or none")
	fs.BoolVar(&c.tlsSelfSigned, "tls-self-signed", false, "serve TLS with a self-signed certificate for localhost, written to the data directory as tls-cert.pem")
	autoscaleFlags(fs, &c.autoscale)
	authFlags(fs, &c.auth)
	limitFlags(fs, &c.limits)
	fs.DurationVar(&c.consoleSample, "console-sample-interval", 2*time.Second, "how often the web console samples the counters its charts draw")
	opsFlags(fs, &c.ops)
}

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "serve", "sluice serve [flags]\n\nRuns a Kinesis Data Streams-compatible server. Every flag can also be set\nby an environment variable: --data-dir by SLUICE_DATA_DIR, and so on.")
	var c serveConfig
	serveFlags(fs, &c)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := flagsFromEnv(fs, env.getenv); err != nil {
		return err
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.tlsCert != "" && c.tlsSelfSigned {
		return errors.New("--tls-self-signed and --tls-cert exclude each other")
	}
	if c.shardLimits != "aws" && c.shardLimits != "none" {
		return fmt.Errorf("--shard-limits %q: want aws or none", c.shardLimits)
	}
	if c.auth.tlsOnly && c.tlsCert == "" && !c.tlsSelfSigned {
		return errors.New("--tls-only needs --tls-cert and --tls-key, or --tls-self-signed")
	}
	c.auth.rootKeyID, c.auth.rootSecret = env.getenv(envRootKeyID), env.getenv(envRootSecret)
	if err := checkAutoscale(c.autoscale); err != nil {
		return err
	}
	if err := checkLimits(c.limits); err != nil {
		return err
	}
	if !validAccountID(c.accountID) {
		return fmt.Errorf("--account-id %q: want 12 digits, as AWS account ids are", c.accountID)
	}
	if err := c.ops.check(); err != nil {
		return err
	}
	logger, err := newLogger(env, c.logLevel, c.ops.logFormat)
	if err != nil {
		return err
	}
	return serve(ctx, env, c, logger)
}

// releaseMemoryWhenIdle hands memory back to the OS once the API has been
// idle for a whole period after serving requests, calling drop first to
// let go of caches. A burst of large GetRecords and PutRecords bodies
// otherwise leaves the process holding hundreds of MiB for minutes after
// the load is gone, and the read cache tens of MiB until the next load.
func releaseMemoryWhenIdle(ctx context.Context, requests *atomic.Int64, period time.Duration, drop func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	last, released := requests.Load(), true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := requests.Load()
		switch {
		case n != last:
			last, released = n, false
		case !released:
			drop()
			// Twice: buffer pools keep their contents through one GC.
			debug.FreeOSMemory()
			debug.FreeOSMemory()
			released = true
		}
	}
}

func validAccountID(id string) bool {
	if len(id) != 12 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// flagsFromEnv sets every flag not given on the command line from its
// SLUICE_* environment variable.
func flagsFromEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SLUICE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && !set[f.Name] && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

func serve(ctx context.Context, env *cmdEnv, c serveConfig, logger *slog.Logger) error {
	start := time.Now()
	creds, err := loadCredentials(c.auth, c.accountID)
	if err != nil {
		return err
	}
	var addrs []net.Addr
	if !c.auth.tlsOnly {
		addrs = append(addrs, literalAddr(c.addr))
	}
	if c.tlsCert != "" || c.tlsSelfSigned {
		addrs = append(addrs, literalAddr(c.tlsAddr))
	}
	if err := checkExposure(c.auth, creds == nil, addrs...); err != nil {
		return err
	}
	// Listen first: a taken port should not cost opening the store.
	var ln net.Listener
	if !c.auth.tlsOnly {
		if ln, err = net.Listen("tcp", c.addr); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		defer ln.Close()
	}
	var tlsLn net.Listener
	var tlsCfg *tls.Config
	var certPath string
	if c.tlsCert != "" || c.tlsSelfSigned {
		if tlsCfg, certPath, err = serverTLS(c.tlsCert, c.tlsKey, c.tlsSelfSigned, c.dataDir); err != nil {
			return err
		}
		if tlsLn, err = net.Listen("tcp", c.tlsAddr); err != nil {
			return fmt.Errorf("listen for TLS: %w", err)
		}
		defer tlsLn.Close()
	}
	if err := checkExposure(c.auth, creds == nil, listenerAddrs(ln, tlsLn)...); err != nil {
		return err
	}
	gate := auth.New(auth.Options{
		Region: c.region, Account: c.accountID, Credentials: creds,
		AllowedHosts: allowedHosts(c.auth, ln, tlsLn),
		Audit:        logger.With("component", "audit"), Logger: logger.With("component", "auth"),
	})
	kr, err := openKeyring(c, logger)
	if err != nil {
		return err
	}
	storeCfg := jetstream.Config{
		DataDir:  c.dataDir,
		URL:      c.natsURL,
		Replicas: c.replicas,
	}
	c.limits.storeLimits(&storeCfg)
	if c.limits.memoryLimit > 0 {
		debug.SetMemoryLimit(c.limits.memoryLimit)
	}
	brokerCfg := broker.Config{
		Region:             c.region,
		AccountID:          c.accountID,
		ShardLimit:         c.shardLimit,
		CreateDelay:        c.createDelay,
		DeleteDelay:        c.deleteDelay,
		RetentionHour:      c.retentionHour,
		EnforceShardQuotas: c.shardLimits == "aws",
		UpdateDelay:        c.updateDelay,
		Keyring:            kr,
		Autoscale:          c.autoscale,

		ConsumerCreateDelay:  c.consumerCreateDelay,
		SubscriptionLifetime: c.subscriptionLifetime,
	}
	c.limits.brokerLimits(&brokerCfg)
	srvParts, err := server.Open(ctx, server.Config{
		Store:          storeCfg,
		Broker:         brokerCfg,
		Logger:         logger,
		ProcessMetrics: true,
		Pprof:          c.pprof,
		Auth:           gate,
		ShardMetrics:   opsmetrics.ShardLevel(c.ops.shardMetrics),
		Bodies:         c.limits.bodies,
		MaxConnections: c.limits.maxConnections,
		Console:        console.Config{SampleInterval: c.consoleSample, Version: version()},
	})
	if err != nil {
		return err
	}
	defer srvParts.Close()

	api := srvParts.Handler()
	mux := http.NewServeMux()
	var requests atomic.Int64
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" { // scrapes do not keep memory busy
			requests.Add(1)
		}
		api.ServeHTTP(w, r)
	}))
	go releaseMemoryWhenIdle(ctx, &requests, 30*time.Second, srvParts.ReleaseMemory)
	go reloadCredentials(ctx, c.auth, c.accountID, gate, logger, 2*time.Second)

	srv := &http.Server{
		Handler:  mux,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	limitServer(srv)
	// HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on one port: the
	// JavaScript SDK v3 and the Java SDK's async client speak h2c.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	// Open SubscribeToShard feeds end when shutdown starts; otherwise they
	// would hold it up until their lifetime ends.
	srv.RegisterOnShutdown(srvParts.EndSubscriptions)

	var endpoint, try string
	if ln != nil {
		endpoint = "http://" + ln.Addr().String()
		try = fmt.Sprintf("aws kinesis create-stream --endpoint-url %s --stream-name demo --shard-count 2", endpoint)
	} else {
		endpoint = "https://" + tlsLn.Addr().String()
		try = fmt.Sprintf("aws kinesis create-stream --endpoint-url %s --ca-bundle %s --stream-name demo --shard-count 2", endpoint, certPath)
	}
	storage := "embedded JetStream in " + c.dataDir
	if c.natsURL != "" {
		storage = "JetStream cluster at " + jetstream.RedactURLs(c.natsURL)
	}
	fmt.Fprintf(env.stdout, "Sluice is serving the Kinesis API (and DynamoDB for lease tables) at %s (%s), ready in %s\n", endpoint, storage, time.Since(start).Round(time.Millisecond))
	if gate.Enabled() {
		fmt.Fprintf(env.stdout, "Requests must be signed with the access keys of %s; operators sign in at %s%s\n", credentialsSource(c.auth), endpoint, auth.LoginPath)
	}
	fmt.Fprintf(env.stdout, "Try: %s\n", try)

	errc := make(chan error, 2)
	if ln != nil {
		go func() { errc <- srv.Serve(srvParts.Listen(ln)) }()
	}
	if tlsLn != nil {
		// Same handler; h2 is negotiated by ALPN, as AWS's endpoints do.
		tlsSrv := &http.Server{
			Handler:   mux,
			TLSConfig: tlsCfg,
			ErrorLog:  srv.ErrorLog,
		}
		limitServer(tlsSrv)
		tlsSrv.RegisterOnShutdown(srvParts.EndSubscriptions)
		go func() { errc <- tlsSrv.ServeTLS(srvParts.Listen(tlsLn), "", "") }()
		defer tlsSrv.Close()
		if ln == nil {
			srv = tlsSrv // what shutting down ends
		}
		fmt.Fprintf(env.stdout, "Sluice is serving TLS (HTTP/1.1 and h2) at https://%s (certificate: %s)\n", tlsLn.Addr(), certPath)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// version is the module version the binary was built from, for the
// console's footer; "" for a development build.
func version() string {
	if v := readBuildVersion().Module; v != "(devel)" && v != "(unknown)" {
		return v
	}
	return ""
}
