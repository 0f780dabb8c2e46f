package cli

import "context"

// checkOnlyKey marks a context whose commands only check their configuration.
type checkOnlyKey struct{}

// WithCheckOnly returns a context under which a command parses and validates
// its flags and environment variables as it would to run, then returns nil
// before it opens a file, a socket or a Kafka connection. Tests use it to
// check the command lines of deployment files (compose, Dockerfile, systemd
// units) against the commands' own flag parsers.
func WithCheckOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, checkOnlyKey{}, true)
}

// CheckOnly reports whether ctx comes from WithCheckOnly: a command calls it
// once its configuration is valid and returns nil if it is true.
func CheckOnly(ctx context.Context) bool {
	v, _ := ctx.Value(checkOnlyKey{}).(bool)
	return v
}
