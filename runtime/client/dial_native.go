//go:build !js

package client

import (
	"net/http"

	"github.com/coder/websocket"
)

// dialOptions sends the API key in the upgrade's Authorization header.
func dialOptions(apiKey string) (*websocket.DialOptions, string) {
	h := http.Header{}
	if apiKey != "" {
		h.Set("Authorization", "Bearer "+apiKey)
	}
	return &websocket.DialOptions{HTTPHeader: h}, ""
}
