package client

// Rebase drops the view and rebuilds it from confirmed and pending, as an
// incoming foreign event does.
func (s *Store) Rebase() {
	s.mu.Lock()
	s.view = nil
	s.currentView()
	s.mu.Unlock()
}
