package parquet

// Crash abandons the sink as a killed process would: its buffer is lost,
// its log and lock are closed, nothing is flushed.
func (s *Sink) Crash() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	for _, tb := range s.snapshot() {
		tb.mu.Lock()
		tb.wal.Close()
		tb.mu.Unlock()
	}
	s.lock.Close()
}

// LogPath is the current log of a table.
func (s *Sink) LogPath(pipeline, table string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tables[pipeline+"\x00"+table].walPath
}
