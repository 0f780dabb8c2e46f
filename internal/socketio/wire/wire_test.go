package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParseEIO(t *testing.T) {
	cases := []struct {
		in      string
		want    EIOPacket
		wantErr bool
	}{
		{in: "2", want: EIOPacket{Type: EIOPing, Data: []byte{}}},
		{in: "3probe", want: EIOPacket{Type: EIOPong, Data: []byte("probe")}},
		{in: "42[\"a\"]", want: EIOPacket{Type: EIOMessage, Data: []byte(`2["a"]`)}},
		{in: "6", want: EIOPacket{Type: EIONoop, Data: []byte{}}},
		{in: "bAQIDBA==", want: EIOPacket{Type: EIOMessage, Data: []byte{1, 2, 3, 4}, Binary: true}},
		{in: "", wantErr: true},
		{in: "7", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "/", wantErr: true},
		{in: "b!!", wantErr: true},
	}
	for _, c := range cases {
		got, err := ParseEIO([]byte(c.in))
		if (err != nil) != c.wantErr {
			t.Errorf("ParseEIO(%q) error = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if !c.wantErr && !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseEIO(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParsePayload(t *testing.T) {
	got, err := ParsePayload([]byte("4hello\x1e2\x1e4world"))
	if err != nil {
		t.Fatal(err)
	}
	want := []EIOPacket{
		{Type: EIOMessage, Data: []byte("hello")},
		{Type: EIOPing, Data: []byte{}},
		{Type: EIOMessage, Data: []byte("world")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParsePayload = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "\x1e", "4a\x1e", "4a\x1ex", "abc"} {
		if _, err := ParsePayload([]byte(bad)); err == nil {
			t.Errorf("ParsePayload(%q) succeeded, want error", bad)
		}
	}
}

func TestAppendPayload(t *testing.T) {
	got := AppendPayload(nil, [][]byte{[]byte("4test1"), []byte("4test2"), []byte("2")})
	if want := "4test1\x1e4test2\x1e2"; string(got) != want {
		t.Fatalf("AppendPayload = %q, want %q", got, want)
	}
	if got := AppendPayload(nil, [][]byte{[]byte("6")}); string(got) != "6" {
		t.Fatalf("AppendPayload of one packet = %q", got)
	}
}

func TestParseSIO(t *testing.T) {
	cases := []struct {
		in   string
		want SIOPacket
	}{
		{"0", SIOPacket{Type: SIOConnect, Namespace: "/"}},
		{`0{"token":"123"}`, SIOPacket{Type: SIOConnect, Namespace: "/", Data: []byte(`{"token":"123"}`)}},
		{"0/admin,", SIOPacket{Type: SIOConnect, Namespace: "/admin"}},
		{"0/admin", SIOPacket{Type: SIOConnect, Namespace: "/admin"}},
		{"1", SIOPacket{Type: SIODisconnect, Namespace: "/"}},
		{`2["foo"]`, SIOPacket{Type: SIOEvent, Namespace: "/", Data: []byte(`["foo"]`)}},
		{`2/admin,["bar"]`, SIOPacket{Type: SIOEvent, Namespace: "/admin", Data: []byte(`["bar"]`)}},
		{`212["foo"]`, SIOPacket{Type: SIOEvent, Namespace: "/", HasID: true, ID: 12, Data: []byte(`["foo"]`)}},
		{`3/admin,13["bar"]`, SIOPacket{Type: SIOAck, Namespace: "/admin", HasID: true, ID: 13, Data: []byte(`["bar"]`)}},
		{`30[]`, SIOPacket{Type: SIOAck, Namespace: "/", HasID: true, ID: 0, Data: []byte(`[]`)}},
		{`4{"message":"Not authorized"}`, SIOPacket{Type: SIOConnectError, Namespace: "/", Data: []byte(`{"message":"Not authorized"}`)}},
		{`51-["baz",{"_placeholder":true,"num":0}]`, SIOPacket{Type: SIOBinaryEvent, Namespace: "/", Attachments: 1, Data: []byte(`["baz",{"_placeholder":true,"num":0}]`)}},
		{`61-15["bar",{"_placeholder":true,"num":0}]`, SIOPacket{Type: SIOBinaryAck, Namespace: "/", Attachments: 1, HasID: true, ID: 15, Data: []byte(`["bar",{"_placeholder":true,"num":0}]`)}},
	}
	for _, c := range cases {
		got, err := ParseSIO([]byte(c.in))
		if err != nil {
			t.Errorf("ParseSIO(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseSIO(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseSIOErrors(t *testing.T) {
	for _, in := range []string{
		"", "7", "x", "2", "2{}", `2[]`, `2[1]`, `2 ["a"]`, `2["a"`, `2["a"]x`,
		"3", `3{}`, "1[]", `0[]`, `0"x"`, "4", `4[]`, "5", "5-[\"a\"]", "5x-[\"a\"]",
		`299999999999999999999["a"]`, `29007199254740992["a"]`,
	} {
		if p, err := ParseSIO([]byte(in)); err == nil {
			t.Errorf("ParseSIO(%q) = %+v, want error", in, p)
		}
	}
	if _, err := ParseSIO([]byte(`2[]`)); !errors.Is(err, ErrEmptyEvent) {
		t.Errorf("ParseSIO(2[]) error = %v, want ErrEmptyEvent", err)
	}
}

func TestAppendSIO(t *testing.T) {
	cases := []struct {
		p    SIOPacket
		want string
	}{
		{SIOPacket{Type: SIOConnect, Data: []byte(`{"sid":"x"}`)}, `0{"sid":"x"}`},
		{SIOPacket{Type: SIOConnectError, Namespace: "/admin", Data: []byte(`{"message":"Invalid namespace"}`)}, `4/admin,{"message":"Invalid namespace"}`},
		{SIOPacket{Type: SIODisconnect, Namespace: "/"}, "1"},
		{SIOPacket{Type: SIOAck, HasID: true, ID: 7, Data: []byte(`[]`)}, "37[]"},
		{SIOPacket{Type: SIOBinaryEvent, Attachments: 2, Namespace: "/a", HasID: true, ID: 1, Data: []byte(`["x"]`)}, `52-/a,1["x"]`},
	}
	for _, c := range cases {
		if got := AppendSIO(nil, c.p); string(got) != c.want {
			t.Errorf("AppendSIO(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestEvent(t *testing.T) {
	data, err := AppendEventData(nil, "count", []any{map[string]int{"likes": 3}, "v1", nil, json.RawMessage(`[1,2]`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `["count",{"likes":3},"v1",null,[1,2]]`; string(data) != want {
		t.Fatalf("AppendEventData = %s, want %s", data, want)
	}
	name, args, err := ParseEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if name != "count" || len(args) != 4 || string(args[0]) != `{"likes":3}` || string(args[3]) != `[1,2]` {
		t.Fatalf("ParseEvent = %q %q", name, args)
	}
	if _, err := AppendEventData(nil, "x", []any{func() {}}); err == nil {
		t.Fatal("AppendEventData of a func succeeded")
	}
	for _, bad := range []string{`[]`, `[1]`, `{}`, `["a"`, ``} {
		if _, _, err := ParseEvent([]byte(bad)); err == nil {
			t.Errorf("ParseEvent(%q) succeeded", bad)
		}
	}
}

func TestAppendArray(t *testing.T) {
	for _, c := range []struct {
		in   []any
		want string
	}{
		{nil, "[]"},
		{[]any{}, "[]"},
		{[]any{1, "a", true}, `[1,"a",true]`},
	} {
		got, err := AppendArray(nil, c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("AppendArray(%v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func FuzzParseEIO(f *testing.F) {
	for _, s := range []string{"0", "2probe", "3", "42[\"a\"]", "bAQID", "6", "4a\x1e2\x1eb"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := ParseEIO(b); err == nil && !p.Binary {
			if got := AppendEIO(nil, p.Type, p.Data); !bytes.Equal(got, b) {
				t.Fatalf("round trip of %q gave %q", b, got)
			}
		}
		packets, err := ParsePayload(b)
		if err != nil {
			return
		}
		var encoded [][]byte
		for _, p := range packets {
			if p.Binary {
				return
			}
			encoded = append(encoded, AppendEIO(nil, p.Type, p.Data))
		}
		if got := AppendPayload(nil, encoded); !bytes.Equal(got, b) {
			t.Fatalf("payload round trip of %q gave %q", b, got)
		}
	})
}

func FuzzParseSIO(f *testing.F) {
	for _, s := range []string{
		"0", `0{"a":1}`, "0/admin,", "1/x", `2["foo",1]`, `212["a"]`, `3/admin,13["bar"]`,
		`4{"message":"x"}`, `51-["baz",{"_placeholder":true,"num":0}]`, `61-15["bar"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseSIO(b)
		if err != nil {
			return
		}
		enc := AppendSIO(nil, p)
		q, err := ParseSIO(enc)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", enc, b, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip of %q: %+v became %+v", b, p, q)
		}
		if p.Type == SIOEvent {
			name, args, err := ParseEvent(p.Data)
			if err != nil {
				t.Fatalf("ParseEvent(%s) of a valid EVENT packet: %v", p.Data, err)
			}
			anyArgs := make([]any, len(args))
			for i, a := range args {
				anyArgs[i] = a
			}
			data, err := AppendEventData(nil, name, anyArgs)
			if err != nil {
				t.Fatalf("AppendEventData(%q): %v", name, err)
			}
			name2, args2, err := ParseEvent(data)
			if err != nil || name2 != name || len(args2) != len(args) {
				t.Fatalf("event round trip of %s gave %s (%v)", p.Data, data, err)
			}
		}
	})
}
