// This file holds a raw WebSocket client, for a peer that never answers
// pings.

package conformance

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

type rawConn struct {
	nc net.Conn
	br *bufio.Reader
}

func (s *suite) rawDial(t *testing.T) *rawConn {
	t.Helper()
	u, err := url.Parse(s.tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "wss" {
			host += ":443"
		} else {
			host += ":80"
		}
	}
	d := &net.Dialer{Timeout: waitFor}
	var nc net.Conn
	if u.Scheme == "wss" {
		nc, err = tls.DialWithDialer(d, "tcp", host, &tls.Config{ServerName: u.Hostname()})
	} else {
		nc, err = d.Dial("tcp", host)
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	var kb [16]byte
	rand.Read(kb[:])
	nc.SetDeadline(time.Now().Add(waitFor))
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
		u.RequestURI(), u.Host, base64.StdEncoding.EncodeToString(kb[:]), s.tg.Key)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("raw upgrade: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("raw upgrade: HTTP %d", resp.StatusCode)
	}
	nc.SetDeadline(time.Time{})
	return &rawConn{nc: nc, br: br}
}

// write sends one masked frame.
func (r *rawConn) write(opcode byte, payload []byte) error {
	var hdr []byte
	hdr = append(hdr, 0x80|opcode)
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= math.MaxUint16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	masked := make([]byte, len(payload))
	for i := range payload {
		masked[i] = payload[i] ^ mask[i%4]
	}
	r.nc.SetWriteDeadline(time.Now().Add(waitFor))
	_, err := r.nc.Write(append(hdr, masked...))
	return err
}

// read returns the next frame's opcode and payload.
func (r *rawConn) read(deadline time.Time) (byte, []byte, error) {
	r.nc.SetReadDeadline(deadline)
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 {
		return 0, nil, errors.New("a masked server frame")
	}
	if n > 64<<20 {
		return 0, nil, fmt.Errorf("a frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r.br, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, p, nil
}
