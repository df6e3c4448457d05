package jetstream

import "testing"

func TestEvents_WakeOnlyWhoIsConcerned(t *testing.T) {
	e := newEvents()
	gen, changed := e.mark()
	e.fire("KDS-2") // another stream's election
	select {
	case <-changed:
	default:
		t.Fatal("an event did not close the channel")
	}
	woken, gen2, changed2 := e.since("KDS-1", gen)
	if woken {
		t.Fatal("woken by another stream's election")
	}
	if woken, _, _ := e.since("KDS-2", gen); !woken {
		t.Fatal("not woken by the stream's election")
	}
	e.fire("KDS-1")
	select {
	case <-changed2:
	default:
		t.Fatal("the stream's election did not close the channel")
	}
	if woken, _, _ := e.since("KDS-1", gen2); !woken {
		t.Fatal("not woken by the stream's election after re-arming")
	}
	gen3, _ := e.mark()
	e.reconnected()
	if woken, _, _ := e.since("KDS-9", gen3); !woken {
		t.Fatal("not woken by a reconnect")
	}
	if woken, _, _ := e.since("KDS-9", e.gen); woken {
		t.Fatal("woken by events before the mark")
	}
}

func TestEvents_BoundedMemory(t *testing.T) {
	e := newEvents()
	e.electedCap = 4
	gen, _ := e.mark()
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		e.fire(s)
	}
	if len(e.elected) > 4 {
		t.Fatalf("%d streams remembered, cap 4", len(e.elected))
	}
	// Forgetting elections wakes every waiter, as a reconnect does.
	if woken, _, _ := e.since("a", gen); !woken {
		t.Fatal("a waiter whose election was forgotten was not woken")
	}
}
