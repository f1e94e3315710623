//go:build !linux

package logfile

import "time"

// waiter sleeps for a timeout: without inotify a follower polls.
type waiter struct{}

func newWaiter(string) *waiter { return &waiter{} }

func (*waiter) wait(d time.Duration) { time.Sleep(d) }

func (*waiter) close() {}
