package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func newTestSet(env map[string]string) (*FlagSet, *string, *int, *time.Duration, *[]string) {
	fs := NewFlagSet("test", "A test command.")
	fs.SetOutput(&bytes.Buffer{})
	fs.SetLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var s string
	var i int
	var d time.Duration
	var l []string
	fs.StringVar(&s, "http-addr", ":3000", "address")
	fs.IntVar(&i, "kafka-port", 9094, "port")
	fs.DurationVar(&d, "grace", 5*time.Second, "grace")
	fs.ListVar(&l, "windows", []string{"1m", "5m"}, "windows")
	return fs, &s, &i, &d, &l
}

func TestPrecedence(t *testing.T) {
	fs, s, i, d, l := newTestSet(map[string]string{"COUNTER_KAFKA_PORT": "1234", "COUNTER_HTTP_ADDR": ":1", "COUNTER_WINDOWS": "2s, 4s,"})
	if err := fs.Parse([]string{"--http-addr", ":9"}); err != nil {
		t.Fatal(err)
	}
	if *s != ":9" || *i != 1234 || *d != 5*time.Second || strings.Join(*l, "|") != "2s|4s" {
		t.Fatalf("got %q %d %v %q", *s, *i, *d, *l)
	}
}

func TestBadEnvNamesVariable(t *testing.T) {
	fs, _, _, _, _ := newTestSet(map[string]string{"COUNTER_GRACE": "soon"})
	err := fs.Parse(nil)
	if err == nil || !strings.Contains(err.Error(), "COUNTER_GRACE") {
		t.Fatalf("err = %v", err)
	}
}

func TestRejectsPositional(t *testing.T) {
	fs, _, _, _, _ := newTestSet(nil)
	if err := fs.Parse([]string{"extra"}); err == nil {
		t.Fatal("positional argument accepted")
	}
}

func TestHelpListsEnv(t *testing.T) {
	fs, _, _, _, _ := newTestSet(nil)
	var b bytes.Buffer
	fs.PrintHelp(&b)
	for _, want := range []string{"--kafka-port", "COUNTER_KAFKA_PORT", "default 1m,5m", "A test command."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, b.String())
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "512": 512, "256MiB": 256 << 20, "1 GiB": 1 << 30, "2KB": 2000, "7B": 7, "3TiB": 3 << 40} {
		var b ByteSize
		if err := b.Set(in); err != nil || uint64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5GiB", "10PiB", "99999999999TiB"} {
		var b ByteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) accepted as %d", in, b)
		}
	}
	b := ByteSize(256 << 20)
	if b.String() != "256MiB" {
		t.Errorf("String() = %q", b.String())
	}
}
