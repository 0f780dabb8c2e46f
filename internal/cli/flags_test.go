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
