package mpi

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Heartbeats name the process that stopped answering. A collective call
// that times out cannot say which process is missing: MPI blocks until
// every one arrives. So every process also sends a small UDP datagram to
// every other process at a fixed interval, from a goroutine of its own,
// and notes when it last heard from each; a process that is stopped
// (SIGSTOP, a hung node) or dead falls silent, and the TimeoutError of the
// others names it. The datagrams carry the sender's rank and a job tag, go
// to the address each process published at the start (over MPI_Bcast),
// and cost N−1 small packets per process per interval.

// heartbeat is the state of a world's heartbeats.
type heartbeat struct {
	interval time.Duration
	conn     *net.UDPConn
	peers    []*net.UDPAddr
	tag      uint64
	mu       sync.Mutex
	last     []time.Time // when each rank was last heard from
	stop     chan struct{}
	done     sync.WaitGroup
}

// StartHeartbeat starts the heartbeats of this process (a collective call:
// every rank calls it once, after Init): it listens on a UDP port of every
// interface, publishes it over MPI with the address its host name
// resolves to (the loopback address where it resolves to none), and sends
// a datagram to every other rank every interval. A later TimeoutError
// names the ranks not heard from for three intervals.
func (w *World) StartHeartbeat(interval time.Duration) error {
	if w.beat != nil {
		return fmt.Errorf("heartbeats already started")
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return fmt.Errorf("heartbeats: %w", err)
	}
	// Every rank publishes its address in a fixed-size slot, rank 0 the
	// job's tag (its time) in its.
	const slot = 64
	addrs := make([]byte, slot*w.size)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	mine := []byte(net.JoinHostPort(localIP().String(), fmt.Sprint(port)))
	if len(mine) > slot-8 {
		conn.Close()
		return fmt.Errorf("heartbeats: address %s too long", mine)
	}
	copy(addrs[w.rank*slot+8:], mine)
	if w.rank == 0 {
		binary.LittleEndian.PutUint64(addrs, uint64(time.Now().UnixNano()))
	}
	for r := range w.size {
		if err := w.Bcast(addrs[r*slot:(r+1)*slot], r); err != nil {
			conn.Close()
			return fmt.Errorf("heartbeats: %w", err)
		}
	}
	hb := &heartbeat{interval: interval, conn: conn, tag: binary.LittleEndian.Uint64(addrs), stop: make(chan struct{})}
	now := time.Now()
	for r := range w.size {
		a := strings.TrimRight(string(addrs[r*slot+8:(r+1)*slot]), "\x00")
		ua, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			conn.Close()
			return fmt.Errorf("heartbeats: rank %d's address %q: %w", r, a, err)
		}
		hb.peers = append(hb.peers, ua)
		hb.last = append(hb.last, now)
	}
	w.beat = hb
	hb.done.Add(2)
	go hb.send(w.rank)
	go hb.receive()
	return nil
}

// localIP is the first address the host name resolves to, or the
// loopback address.
func localIP() net.IP {
	host, err := os.Hostname()
	if err == nil {
		if ips, err := net.LookupIP(host); err == nil {
			for _, ip := range ips {
				if ip.To4() != nil && !ip.IsLoopback() {
					return ip
				}
			}
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// send sends this rank's datagram to every other rank every interval.
func (hb *heartbeat) send(rank int) {
	defer hb.done.Done()
	msg := make([]byte, 16)
	binary.LittleEndian.PutUint64(msg, hb.tag)
	binary.LittleEndian.PutUint64(msg[8:], uint64(rank))
	t := time.NewTicker(hb.interval)
	defer t.Stop()
	for {
		for r, p := range hb.peers {
			if r != rank {
				_, _ = hb.conn.WriteToUDP(msg, p)
			}
		}
		select {
		case <-hb.stop:
			return
		case <-t.C:
		}
	}
}

// receive notes the datagrams of the job's ranks until the connection
// closes.
func (hb *heartbeat) receive() {
	defer hb.done.Done()
	buf := make([]byte, 64)
	for {
		n, _, err := hb.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n != 16 || binary.LittleEndian.Uint64(buf) != hb.tag {
			continue
		}
		r := int(binary.LittleEndian.Uint64(buf[8:]))
		hb.mu.Lock()
		if r >= 0 && r < len(hb.last) {
			hb.last[r] = time.Now()
		}
		hb.mu.Unlock()
	}
}

// silent returns the ranks but self not heard from for three intervals.
func (hb *heartbeat) silent(self int) []int {
	if hb == nil {
		return nil
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	var ranks []int
	for r, t := range hb.last {
		if r != self && time.Since(t) > 3*hb.interval {
			ranks = append(ranks, r)
		}
	}
	return slices.Clip(ranks)
}

// close stops the heartbeats.
func (hb *heartbeat) close() {
	if hb == nil {
		return
	}
	close(hb.stop)
	hb.conn.Close()
	hb.done.Wait()
}
