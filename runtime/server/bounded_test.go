package server_test

import (
	"fmt"
	"testing"
)

// Reads of keys that do not exist start no room (issue 12, attack 2).
func TestReadsOfMissingKeysStartNoRoom(t *testing.T) {
	s := startTodos(t)
	for i := range 200 {
		key := fmt.Sprintf("nope-%d", i)
		if code, out := rest(t, "GET", s.HTTPURL+statesURL+key, s.Key, ""); code != 404 {
			t.Fatalf("GET %s: %d %v", key, code, out)
		}
		if code, out := post(t, s, key, s.Key, `{"name":"Add","args":{"title":"x"}}`); code != 404 {
			t.Fatalf("POST without type to %s: %d %v", key, code, out)
		}
		if code, out := rest(t, "DELETE", s.HTTPURL+statesURL+key, s.Key, ""); code != 404 {
			t.Fatalf("DELETE %s: %d %v", key, code, out)
		}
	}
	_, health := rest(t, "GET", s.HTTPURL+"/healthz", "", "")
	if rooms := health["rooms"].(float64); rooms != 0 {
		t.Fatalf("%v rooms after reads of missing keys", rooms)
	}
	// A key that exists is still read (through its room).
	if code, out := post(t, s, "k", s.Key, `{"type":"todos.List","name":"Add","args":{"title":"x"}}`); code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	if seq, _ := stateOf(t, s, "k"); seq != 1 {
		t.Fatalf("seq %d", seq)
	}
}
