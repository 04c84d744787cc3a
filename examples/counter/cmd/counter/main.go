// Command counter is the command-line client of the counter app.
//
//	counter [flags] add N | reset | show
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/runtime/client"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8080/v1/ws", "server WebSocket URL")
	key := flag.String("key", os.Getenv("BS_KEY"), "API key (env BS_KEY)")
	dir := flag.String("dir", ".counter", "where this client keeps its queue and last state")
	name := flag.String("counter", "main", "the counter's key")
	flag.Parse()
	c, err := client.Dial(context.Background(), *url, client.Options{APIKey: *key, Dir: *dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	s, err := counter.OpenCounter(c, *name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	online := c.WaitSynced(ctx) == nil
	switch flag.Arg(0) {
	case "add":
		n, _ := strconv.Atoi(flag.Arg(1))
		err = s.Add(n)
	case "reset":
		err = s.Reset()
	case "show":
	default:
		fmt.Fprintln(os.Stderr, "usage: counter [flags] add N | reset | show")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if online {
		online = c.WaitSynced(ctx) == nil
	}
	v := s.Get()
	fmt.Printf("%d (changes: %d, last by %q)\n", v.N, v.Changes, v.LastBy)
	if !online {
		fmt.Println("(offline: changes are queued and sent on the next run that reaches the server)")
	}
}
