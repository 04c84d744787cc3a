//go:build js

package client

import "github.com/coder/websocket"

// dialOptions: a browser's WebSocket cannot set headers, so the API key
// (or a token, from TokenSource) goes in hello.auth.
func dialOptions(apiKey string) (*websocket.DialOptions, string) {
	return nil, apiKey
}
