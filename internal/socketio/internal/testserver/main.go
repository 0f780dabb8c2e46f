// Command testserver serves the Socket.IO test application (package testapp)
// for the Node.js client tests in test/socketio, which start it when
// SOCKETIO_URL is not set. It prints "listening on http://HOST:PORT" once
// ready, and runs until killed.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/counter-dev/counter/internal/socketio"
	"github.com/counter-dev/counter/internal/socketio/internal/testapp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	ping := flag.Duration("ping-interval", 300*time.Millisecond, "Engine.IO ping interval")
	verbose := flag.Bool("v", false, "log at debug level")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	app := testapp.New(socketio.Options{PingInterval: *ping, PingTimeout: 5 * time.Second}, log)
	fmt.Printf("listening on http://%s\n", ln.Addr())
	if err := http.Serve(ln, app.Handler); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
