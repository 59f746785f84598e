package mpi

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// runChild is one rank of the job TestCollectivesUnderMpirun or
// TestAbortUnderMpirun starts. It prints what fails and returns the exit
// status: 0 only when every check passed.
func runChild(mode string) int {
	lib, err := Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	w, err := lib.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 1
	}
	switch mode {
	case "collectives":
		c := &checker{w: w}
		c.run()
		if len(c.failures) > 0 {
			for _, f := range c.failures {
				fmt.Fprintf(os.Stderr, "rank %d: %s\n", w.Rank(), f)
			}
			// The other ranks may wait in a collective call for this
			// one: end them all.
			_ = w.Abort(1)
			return 1
		}
		if err := w.Finalize(); err != nil {
			fmt.Fprintf(os.Stderr, "rank %d: Finalize: %v\n", w.Rank(), err)
			return 1
		}
		if err := w.Barrier(); !errors.Is(err, ErrFinalized) {
			fmt.Fprintf(os.Stderr, "rank %d: Barrier after Finalize: %v, want ErrFinalized\n", w.Rank(), err)
			return 1
		}
		if _, err := lib.Init(); err == nil || !strings.Contains(err.Error(), "finalised") {
			fmt.Fprintf(os.Stderr, "rank %d: Init after Finalize: %v, want an error saying MPI was finalised\n", w.Rank(), err)
			return 1
		}
		fmt.Printf("rank %d of %d (local %d of %d): ok\n", c.rank, c.size, c.localRank, c.localSize)
		return 0
	case "abort":
		if w.Rank() != 1 {
			// Alive, outside MPI, until the abort ends this process.
			time.Sleep(30 * time.Second)
			fmt.Printf("rank %d outlived the abort\n", w.Rank())
			return 0
		}
		// The goroutine that owns MPI is blocked in a barrier the others
		// never join when Abort is called from this one.
		go func() {
			err := w.Barrier()
			fmt.Fprintln(os.Stderr, "a barrier without the other ranks returned:", err)
		}()
		time.Sleep(200 * time.Millisecond)
		err := w.Abort(abortCode)
		fmt.Fprintln(os.Stderr, "Abort returned:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "unknown %s %q\n", childMode, mode)
	_ = w.Abort(1)
	return 1
}

// checker runs the checks of one rank and collects their failures.
type checker struct {
	w                    *World
	size, rank           int
	localSize, localRank int
	failures             []string
}

func (c *checker) fail(format string, args ...any) {
	c.failures = append(c.failures, fmt.Sprintf(format, args...))
}

// Values each rank contributes: small integers and halves, so that every
// sum is exact in any order, with signs and maxima that move between
// ranks; the int64 values lie beyond 2^53, where a reduction in float64
// would round them.
func value64(rank, i int) float64 {
	return float64((i*(rank+2))%7) - float64(rank)*1.5 + float64(i)/2
}

func value32(rank, i int) float32 { return float32(value64(rank, i)) }

func valueInt(rank, i int) int64 {
	return int64(1)<<60 + int64(rank)*int64(i%5+1)*1_000_003 - int64((i*rank)%4)
}

func (c *checker) run() {
	w := c.w
	c.size, c.rank = w.Size(), w.Rank()
	c.localSize, c.localRank = w.LocalSize(), w.LocalRank()

	// Size and ranks: MPI's, checked against what mpirun says.
	launch, err := DetectLaunch(os.LookupEnv)
	if err != nil || launch.Launcher != "Open MPI" || launch.Tasks != worldSize {
		c.fail("DetectLaunch = %+v, %v; want Open MPI with %d tasks", launch, err, worldSize)
	}
	if err := launch.CheckWorld(c.size); err != nil {
		c.fail("CheckWorld: %v", err)
	}
	if err := launch.CheckWorld(1); err == nil {
		c.fail("CheckWorld(1) under mpirun -np %d: no error", worldSize)
	}
	if c.size != worldSize {
		c.fail("Size() = %d, want %d", c.size, worldSize)
	}
	if env, _ := strconv.Atoi(os.Getenv("OMPI_COMM_WORLD_RANK")); c.rank != env {
		c.fail("Rank() = %d, mpirun says %d", c.rank, env)
	}
	// The ranks on this node, as mpirun placed them; the parent checks
	// the placement it asked for from what each rank prints.
	localRank, err1 := strconv.Atoi(os.Getenv("OMPI_COMM_WORLD_LOCAL_RANK"))
	localSize, err2 := strconv.Atoi(os.Getenv("OMPI_COMM_WORLD_LOCAL_SIZE"))
	if err1 != nil || err2 != nil {
		c.fail("mpirun set no OMPI_COMM_WORLD_LOCAL_RANK or _SIZE: %v, %v", err1, err2)
	} else if c.localRank != localRank || c.localSize != localSize {
		c.fail("local rank %d of %d, mpirun says %d of %d", c.localRank, c.localSize, localRank, localSize)
	}
	if _, err := w.Library().Init(); err == nil || !strings.Contains(err.Error(), "already initialised") {
		c.fail("a second Init: %v, want an error saying MPI is already initialised", err)
	}
	if ok, err := w.Library().Initialized(); !ok || err != nil {
		c.fail("Initialized() = %v, %v", ok, err)
	}

	// Go's own signal handling survives MPI_Init: a nil dereference is
	// still a panic that recovers, not a crash in Open MPI's handler.
	func() {
		defer func() {
			if recover() == nil {
				c.fail("a nil dereference did not panic")
			}
		}()
		var p *int
		_ = *p
	}()

	c.checkAllreduce(17)
	// Buffers longer than one MPI call moves go in pieces.
	saved := maxCount
	maxCount = 5
	c.checkAllreduce(17)
	maxCount = saved

	c.checkBcast()

	if err := w.Barrier(); err != nil {
		c.fail("Barrier: %v", err)
	}
}

func (c *checker) checkAllreduce(n int) {
	w := c.w
	for _, op := range []Op{Sum, Max} {
		got32 := make([]float32, n)
		got64 := make([]float64, n)
		gotInt := make([]int64, n)
		for i := range n {
			got32[i], got64[i], gotInt[i] = value32(c.rank, i), value64(c.rank, i), valueInt(c.rank, i)
		}
		if err := w.AllreduceFloat32(got32, op); err != nil {
			c.fail("AllreduceFloat32(%v): %v", op, err)
		}
		if err := w.AllreduceFloat64(got64, op); err != nil {
			c.fail("AllreduceFloat64(%v): %v", op, err)
		}
		if err := w.AllreduceInt64(gotInt, op); err != nil {
			c.fail("AllreduceInt64(%v): %v", op, err)
		}
		for i := range n {
			want32, want64, wantInt := value32(0, i), value64(0, i), valueInt(0, i)
			for r := 1; r < worldSize; r++ {
				switch op {
				case Sum:
					want32 += value32(r, i)
					want64 += value64(r, i)
					wantInt += valueInt(r, i)
				case Max:
					want32 = max(want32, value32(r, i))
					want64 = max(want64, value64(r, i))
					wantInt = max(wantInt, valueInt(r, i))
				}
			}
			if got32[i] != want32 {
				c.fail("float32 %v [%d of %d] = %v, want %v (maxCount %d)", op, i, n, got32[i], want32, maxCount)
			}
			if got64[i] != want64 {
				c.fail("float64 %v [%d of %d] = %v, want %v (maxCount %d)", op, i, n, got64[i], want64, maxCount)
			}
			if gotInt[i] != wantInt {
				c.fail("int64 %v [%d of %d] = %d, want %d (maxCount %d)", op, i, n, gotInt[i], wantInt, maxCount)
			}
		}
	}
	// Empty buffers are no call at all.
	if err := w.AllreduceFloat32(nil, Sum); err != nil {
		c.fail("AllreduceFloat32(nil): %v", err)
	}
	if err := w.AllreduceFloat64([]float64{1}, Op(9)); err == nil {
		c.fail("AllreduceFloat64 with Op(9): no error")
	}
	// A value with every bit of its mantissa in use survives a max
	// exactly.
	one := []float64{math.Pi * float64(c.rank+1)}
	if err := w.AllreduceFloat64(one, Max); err != nil || one[0] != math.Pi*worldSize {
		c.fail("max of π·(rank+1) = %v, %v; want %v", one[0], err, math.Pi*worldSize)
	}
}

func (c *checker) checkBcast() {
	w := c.w
	message := func(root int) []byte {
		b := make([]byte, 1001)
		for i := range b {
			b[i] = byte(i*7 + root*31 + 1)
		}
		return b
	}
	for _, root := range []int{0, worldSize - 1} {
		buf := make([]byte, 1001)
		if c.rank == root {
			copy(buf, message(root))
		}
		if err := w.Bcast(buf, root); err != nil {
			c.fail("Bcast from %d: %v", root, err)
		} else if !bytes.Equal(buf, message(root)) {
			c.fail("Bcast from %d: rank %d got other bytes", root, c.rank)
		}
	}
	// In pieces.
	saved := maxCount
	maxCount = 100
	buf := make([]byte, 1001)
	if c.rank == 0 {
		copy(buf, message(0))
	}
	if err := w.Bcast(buf, 0); err != nil || !bytes.Equal(buf, message(0)) {
		c.fail("Bcast in pieces of 100: %v, equal %v", err, bytes.Equal(buf, message(0)))
	}
	maxCount = saved

	// A root outside the world is refused before MPI is called ...
	if err := w.Bcast(buf, worldSize); err == nil || !strings.Contains(err.Error(), "not a rank") {
		c.fail("Bcast from root %d: %v, want an error saying it is not a rank", worldSize, err)
	}
	// ... and MPI's own error comes back as a value, named by
	// MPI_Error_string, rather than ending the job.
	err := w.bcast(buf, worldSize)
	var mpiErr *Error
	if !errors.As(err, &mpiErr) || mpiErr.Func != "MPI_Bcast" || !strings.Contains(mpiErr.Text, "MPI_ERR_ROOT") {
		c.fail("MPI_Bcast from root %d: %v, want an *Error of MPI_Bcast with MPI_ERR_ROOT", worldSize, err)
	}
}
