/*
 * A stand-in for the CUDA driver (libcuda.so.1), for testing the CUDA
 * backend on machines without a GPU. It runs the real kernels: it is linked
 * with kernels.Source(kernels.Host), the kernel files of package kernels
 * compiled for the host, and keeps no kernel code of its own.
 *
 * Device memory is host memory, each allocation ending at a page the
 * process may not touch, so that a kernel that writes past its buffer
 * crashes the test instead of corrupting it. The one stream queues its
 * work and runs it when the host waits for it (cuStreamSynchronize, and
 * the calls that wait implicitly), so a host that reads results or reuses
 * staging memory too early gets wrong data, as on a GPU. A kernel launch
 * runs its blocks one after another and the threads of a block as fibers
 * (ucontext) on the calling thread: BARRIER switches to the next fiber
 * until every thread of the block waits at the same barrier, and the
 * static LOCAL arrays of the kernels (section mtl_local) are filled with
 * garbage before each block. Threads that leave a barrier behind, or wait
 * at different ones, fail the launch.
 *
 * Errors 700, 702, 710 and 714-719 are sticky, as cuda.h says: once one
 * happened, every call that needs the context returns it, until
 * fake_reset (the stand-in's process restart).
 *
 * Kernel parameter sizes come from the PTX image, as the real driver
 * takes them; each .entry must have a host build of the same name and
 * number of parameters.
 *
 * Test hooks, for the tests and for the cuBLAS stand-in (fakecublas.c):
 * fake_get, fake_set and fake_add read and change the named counters and
 * settings of the table below; fake_reset restores the state of a fresh
 * process. cuMemAlloc_v2 of FAKE_ODD_BYTES fails with a code the backend's
 * table does not name. fake_enqueue_host and fake_flush serve the NCCL
 * stand-in (fakenccl.c) as well.
 *
 * The setting "devices" is the number of devices cuDeviceGetCount reports,
 * all alike: any ordinal below it has a name, memory, attributes and a
 * primary context, and a process still works in one context whichever it
 * retains. It is 1, or the value of the environment variable
 * FAKE_CUDA_DEVICES when the library is loaded, so that each process of a
 * job started by mpirun can open the device of its local rank;
 * fake_reset restores that value.
 *
 * Build: cc -shared -fPIC -O2 -U_FORTIFY_SOURCE -o libfakecuda.so fakecuda.c kernels_host.c -lm -lpthread
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

#define FAKE_ODD_BYTES 0x7e570000ULL
#define FAKE_ODD_CODE 12345

/* Counters and settings, by name. */
enum {
	LIVE_DEVICE, LIVE_HOST, CONTEXT_REFS, LIVE_STREAMS, LIVE_HANDLES, LIVE_MODULES,
	NO_CONTEXT_CALLS, LAUNCHES, GEMMS, WAITS, MEM_FREES, ASYNC_ALLOCS, ASYNC_FREES, BLOCKS,
	DRIVER_VERSION, MEMORY_POOLS, RELEASE_THRESHOLD, FAULT_AT_LAUNCH, FAULT_CODE, CUBLAS_CREATE_FAILS,
	SKIP_KERNELS, DEVICES, NVALUES
};
static const char *const value_names[NVALUES] = {
	"live_device", "live_host", "context_refs", "live_streams", "live_handles", "live_modules",
	"no_context_calls", "launches", "gemms",
	/* waits counts cuStreamSynchronize calls and the calls that had to
	 * wait for queued work (cuMemFree_v2, copies to pageable memory). */
	"waits", "mem_frees", "async_allocs", "async_frees", "blocks",
	/* Settings: cuDriverGetVersion's value; whether the device has memory
	 * pools; the pool's release threshold; the launch (1 = the next) whose
	 * kernel faults with fault_code; the cuBLAS major version whose
	 * cublasCreate fails; whether kernels are skipped instead of run (to
	 * time the host alone); the number of devices. */
	"driver_version", "memory_pools", "release_threshold", "fault_at_launch", "fault_code", "cublas_create_fails",
	"skip_kernels", "devices",
};
static long long values[NVALUES];

/* The default of "devices": 1, or FAKE_CUDA_DEVICES at load. */
static long long default_devices = 1;

static void set_defaults(void)
{
	memset(values, 0, sizeof values);
	values[DRIVER_VERSION] = 12040;
	values[MEMORY_POOLS] = 1;
	values[FAULT_CODE] = 700;
	values[DEVICES] = default_devices;
}

/* One lock for every call; recursive, as the cuBLAS stand-in's work,
 * which the queue runs, calls back. */
static pthread_mutex_t mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
#define LOCK() pthread_mutex_lock(&mu)
#define UNLOCK() pthread_mutex_unlock(&mu)

static __thread void *current;
static int context_token, stream_token, module_token, pool_token;
static int initialised;
static CUresult sticky;

static int is_sticky(CUresult r) { return r == 700 || r == 702 || r == 710 || (r >= 714 && r <= 719); }

static void fault(CUresult r)
{
	if (!sticky && is_sticky(r)) {
		sticky = r;
	}
}

/* Allocations: device memory ends at a guard page; host memory is malloc'd. */
struct alloc {
	char *base;
	size_t bytes;
	char *map;
	size_t map_bytes;
	int host;
	struct alloc *next;
};
static struct alloc *allocs;

static int count_allocs(int host)
{
	int n = 0;
	for (struct alloc *a = allocs; a; a = a->next) {
		n += a->host == host;
	}
	return n;
}

/* within reports whether [p, p+bytes) lies in one live allocation of the kind. */
static int within(const void *p, size_t bytes, int host)
{
	const char *c = p;
	for (struct alloc *a = allocs; a; a = a->next) {
		if (a->host == host && c >= a->base && c + bytes <= a->base + a->bytes) {
			return 1;
		}
	}
	return 0;
}

static int have_context(void)
{
	if (current != &context_token) {
		values[NO_CONTEXT_CALLS]++;
		return 0;
	}
	return 1;
}

/* NEED_CONTEXT returns from a locked call without a current context, or
 * with the sticky error. */
#define NEED_CONTEXT() \
	do { \
		if (!have_context()) { \
			UNLOCK(); \
			return 201; \
		} \
		if (sticky) { \
			UNLOCK(); \
			return sticky; \
		} \
	} while (0)

/* The stream: a queue of operations run when the host waits. */
enum { OP_MEMSET, OP_COPY, OP_KERNEL, OP_HOST, OP_FREE, OP_FAULT };
struct mtl_host_kernel {
	const char *name;
	int args;
	void (*run)(const uint64_t *slots);
};
extern const struct mtl_host_kernel mtl_host_kernels[];

struct kernel {
	char name[64];
	const struct mtl_host_kernel *host;
	int nparams;
	int sizes[32];
};

struct op {
	int kind;
	/* memset, copies, frees */
	void *dst;
	const void *src;
	void *owned; /* freed after the op: a staged copy of pageable memory */
	size_t bytes;
	unsigned value;
	/* kernels */
	const struct kernel *k;
	uint64_t args[32];
	unsigned grid[3], block[3];
	/* host callbacks (cuBLAS), which return a fault or 0 */
	int (*fn)(void *);
	void *data;
	/* faults */
	CUresult code;
	struct op *next;
};
static struct op *head, **tail = &head;

static void enqueue(struct op *o)
{
	o->next = NULL;
	*tail = o;
	tail = &o->next;
}

static void free_op(struct op *o)
{
	free(o->owned);
	if (o->kind == OP_HOST) {
		free(o->data);
	}
	free(o);
}

static struct alloc *find_alloc(const void *p, int host)
{
	for (struct alloc *a = allocs; a; a = a->next) {
		if (a->base == p && a->host == host) {
			return a;
		}
	}
	return NULL;
}

static void release(struct alloc *a)
{
	for (struct alloc **ap = &allocs; *ap; ap = &(*ap)->next) {
		if (*ap == a) {
			*ap = a->next;
			break;
		}
	}
	if (a->host) {
		free(a->base);
	} else {
		munmap(a->map, a->map_bytes);
	}
	free(a);
}

/*
 * Fibers: one per thread of a block, on stacks with a guard page. A fiber
 * starts through ucontext once; after that, the switches between it and
 * the scheduler are _setjmp and _longjmp, which do not save the signal mask
 * and so make no system call (built without _FORTIFY_SOURCE, whose
 * longjmp refuses to change stacks).
 */
enum { READY, WAITING, DONE };
struct fiber {
	jmp_buf env;
	ucontext_t boot;
	char *stack;
	int made, state;
	const char *file;
	int line;
	struct mtl_host_thread {
		int local_id[3], local_size[3], group_id[3], num_groups[3];
	} geometry;
};
#define MAX_THREADS 1024
#define FIBER_STACK (64 << 10)
static struct fiber fibers[MAX_THREADS];
static struct fiber *running;
static jmp_buf scheduler;
static ucontext_t boot_return;
static const struct op *launch_now;

/* The geometry of the running fiber, which the kernels read. */
const struct mtl_host_thread *mtl_host_self;

extern char __start_mtl_local[] __attribute__((weak));
extern char __stop_mtl_local[] __attribute__((weak));

/* fiber_main is where a fiber starts: it returns to make_fiber, then runs
 * a thread of a block each time the scheduler resumes it, to the end. */
static void fiber_main(void)
{
	if (_setjmp(running->env) == 0) {
		setcontext(&boot_return);
	}
	for (;;) {
		launch_now->k->host->run(launch_now->args);
		running->state = DONE;
		if (_setjmp(running->env) == 0) {
			_longjmp(scheduler, 1);
		}
	}
}

void mtl_host_barrier(const char *file, int line)
{
	struct fiber *f = running;
	f->state = WAITING;
	f->file = file;
	f->line = line;
	if (_setjmp(f->env) == 0) {
		_longjmp(scheduler, 1);
	}
}

/* make_fiber (re)starts fiber i at fiber_main. */
static int make_fiber(int i)
{
	struct fiber *f = &fibers[i];
	long page = sysconf(_SC_PAGESIZE);
	if (!f->stack) {
		char *m = mmap(NULL, FIBER_STACK + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED) {
			return 2;
		}
		mprotect(m, page, PROT_NONE);
		f->stack = m + page;
	}
	getcontext(&f->boot);
	f->boot.uc_stack.ss_sp = f->stack;
	f->boot.uc_stack.ss_size = FIBER_STACK;
	f->boot.uc_link = NULL;
	makecontext(&f->boot, fiber_main, 0);
	running = f;
	swapcontext(&boot_return, &f->boot);
	f->made = 1;
	return 0;
}

/* run_block runs the threads of block (x, y, z) of the launch to the end. */
static CUresult run_block(const struct op *o, unsigned x, unsigned y, unsigned z)
{
	const unsigned bx = o->block[0], by = o->block[1], bz = o->block[2];
	const int n = (int)(bx * by * bz);
	char *local = __start_mtl_local, *local_end = __stop_mtl_local;
	if (local && local_end > local) {
		memset(local, 0xa5, local_end - local);
	}
	for (int t = 0; t < n; t++) {
		struct fiber *f = &fibers[t];
		if (!f->made && make_fiber(t)) {
			return 2;
		}
		struct mtl_host_thread *g = &f->geometry;
		g->local_id[0] = t % bx, g->local_id[1] = t / bx % by, g->local_id[2] = t / (bx * by);
		g->local_size[0] = bx, g->local_size[1] = by, g->local_size[2] = bz;
		g->group_id[0] = x, g->group_id[1] = y, g->group_id[2] = z;
		g->num_groups[0] = o->grid[0], g->num_groups[1] = o->grid[1], g->num_groups[2] = o->grid[2];
		f->state = READY;
	}
	launch_now = o;
	for (;;) {
		int waiting = 0, done = 0, mismatch = 0;
		const char *file = NULL;
		int line = 0;
		for (int t = 0; t < n; t++) {
			struct fiber *f = &fibers[t];
			running = f;
			mtl_host_self = &f->geometry;
			if (_setjmp(scheduler) == 0) {
				_longjmp(f->env, 1);
			}
			if (f->state == DONE) {
				done++;
				continue;
			}
			if (waiting++ == 0) {
				file = f->file, line = f->line;
			} else if (f->file != file || f->line != line) {
				mismatch = 1;
			}
		}
		if (waiting == 0) {
			return 0;
		}
		if (done > 0 || mismatch) {
			fprintf(stderr, "fakecuda: kernel %s, block (%u, %u, %u): %s\n", o->k->name, x, y, z,
				done > 0 ? "threads ended while others waited at a barrier" : "threads wait at different barriers");
			/* The waiting fibers are abandoned: start them afresh. */
			for (int t = 0; t < n; t++) {
				if (fibers[t].state == WAITING) {
					make_fiber(t);
				}
			}
			return 719;
		}
		for (int t = 0; t < n; t++) {
			fibers[t].state = READY;
		}
	}
}

/* run_kernel runs a launch. A pointer argument outside the device's
 * allocations (freed memory, say) is an illegal address. */
static CUresult run_kernel(const struct op *o)
{
	for (int i = 0; i < o->k->nparams; i++) {
		if (o->k->sizes[i] == 8 && o->args[i] && !within((void *)(uintptr_t)o->args[i], 0, 0)) {
			return 700;
		}
	}
	for (unsigned z = 0; z < o->grid[2]; z++) {
		for (unsigned y = 0; y < o->grid[1]; y++) {
			for (unsigned x = 0; x < o->grid[0]; x++) {
				values[BLOCKS]++;
				CUresult r = run_block(o, x, y, z);
				if (r) {
					return r;
				}
			}
		}
	}
	return 0;
}

/* run_queue runs the queued work; a fault drops the rest of it. */
static void run_queue(void)
{
	while (head) {
		struct op *o = head;
		head = o->next;
		CUresult r = 0;
		if (!sticky) {
			switch (o->kind) {
			case OP_MEMSET:
				for (size_t i = 0; i < o->bytes / 4; i++) {
					((unsigned *)o->dst)[i] = o->value;
				}
				break;
			case OP_COPY:
				memcpy(o->dst, o->src, o->bytes);
				break;
			case OP_KERNEL:
				r = values[SKIP_KERNELS] ? 0 : run_kernel(o);
				break;
			case OP_HOST:
				r = o->fn(o->data);
				break;
			case OP_FREE: {
				struct alloc *a = find_alloc(o->dst, 0);
				if (a) {
					release(a);
				}
				break;
			}
			case OP_FAULT:
				r = o->code;
				break;
			}
		}
		if (r) {
			fault(r);
		}
		free_op(o);
	}
	tail = &head;
}

/* wait_for_queue runs the queued work for a call that waits for it. */
static void wait_for_queue(void)
{
	if (head) {
		values[WAITS]++;
		run_queue();
	}
}

/* Hooks. */

static int value_index(const char *name)
{
	for (int i = 0; i < NVALUES; i++) {
		if (strcmp(value_names[i], name) == 0) {
			return i;
		}
	}
	fprintf(stderr, "fakecuda: no counter or setting %s\n", name);
	return -1;
}

long long fake_get(const char *name)
{
	LOCK();
	int i = value_index(name);
	long long v = i < 0 ? -1 : values[i];
	if (i == LIVE_DEVICE) {
		v = count_allocs(0);
	} else if (i == LIVE_HOST) {
		v = count_allocs(1);
	}
	UNLOCK();
	return v;
}

int fake_set(const char *name, long long v)
{
	LOCK();
	int i = value_index(name);
	if (i >= 0) {
		values[i] = v;
	}
	UNLOCK();
	return i < 0 ? -1 : 0;
}

int fake_add(const char *name, long long delta)
{
	LOCK();
	int i = value_index(name);
	if (i >= 0) {
		values[i] += delta;
	}
	UNLOCK();
	return i < 0 ? -1 : 0;
}

/* fake_sticky returns the sticky error, or 0. */
int fake_sticky(void)
{
	LOCK();
	CUresult r = sticky;
	UNLOCK();
	return r;
}

/* fake_reset is a process restart: no error, no memory, no work, the
 * default settings. */
void fake_reset(void)
{
	LOCK();
	while (head) {
		struct op *o = head;
		head = o->next;
		free_op(o);
	}
	tail = &head;
	while (allocs) {
		release(allocs);
	}
	sticky = 0;
	set_defaults();
	UNLOCK();
}

/* For the cuBLAS stand-in. */

int fake_have_context(void)
{
	LOCK();
	int ok = have_context();
	UNLOCK();
	return ok;
}

int fake_device_memory(const void *p, size_t bytes)
{
	LOCK();
	int ok = within(p, bytes, 0);
	UNLOCK();
	return ok;
}

/* fake_enqueue_host queues fn(data) on the stream; data is freed after
 * fn returns, or without fn being called when a fault drops the queue. A
 * sticky code fn returns faults the device; other codes are ignored, as
 * for kernels. */
void fake_enqueue_host(int (*fn)(void *), void *data)
{
	LOCK();
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_HOST;
	o->fn = fn;
	o->data = data;
	enqueue(o);
	UNLOCK();
}

/* fake_flush runs the queued work, as the device does in time whether or
 * not the host waits, and returns the sticky error, or 0. It needs no
 * current context: ncclCommDestroy flushes a communicator's collectives
 * from any thread. */
int fake_flush(void)
{
	LOCK();
	wait_for_queue();
	CUresult r = sticky;
	UNLOCK();
	return r;
}

/* init reads FAKE_CUDA_DEVICES, a count from 1 to 64; anything else is
 * reported and ignored. */
__attribute__((constructor)) static void init(void)
{
	const char *env = getenv("FAKE_CUDA_DEVICES");
	if (env && *env) {
		char *end;
		long n = strtol(env, &end, 10);
		if (*end == 0 && n >= 1 && n <= 64) {
			default_devices = n;
		} else {
			fprintf(stderr, "fakecuda: FAKE_CUDA_DEVICES=%s is not a count from 1 to 64; using 1\n", env);
		}
	}
	set_defaults();
}

/* device_ok reports whether dev is the ordinal of a device. */
static int device_ok(int dev)
{
	LOCK();
	int ok = dev >= 0 && dev < values[DEVICES];
	UNLOCK();
	return ok;
}

/* The driver API. */

CUresult cuInit(unsigned flags)
{
	if (flags != 0) {
		return 1;
	}
	initialised = 1;
	return 0;
}

CUresult cuDriverGetVersion(int *v)
{
	LOCK();
	*v = (int)values[DRIVER_VERSION];
	UNLOCK();
	return 0;
}

CUresult cuDeviceGetCount(int *n)
{
	if (!initialised) {
		return 3;
	}
	LOCK();
	*n = (int)values[DEVICES];
	UNLOCK();
	return 0;
}

CUresult cuDeviceGet(int *dev, int ordinal)
{
	if (!initialised) {
		return 3;
	}
	if (!device_ok(ordinal)) {
		return 101;
	}
	*dev = ordinal;
	return 0;
}

CUresult cuDeviceGetName(char *name, int len, int dev)
{
	if (!device_ok(dev)) {
		return 101;
	}
	if (len < 9) {
		return 1;
	}
	strcpy(name, "Fake GPU");
	return 0;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, int dev)
{
	if (!device_ok(dev)) {
		return 101;
	}
	*bytes = (size_t)16 << 30;
	return 0;
}

CUresult cuDeviceGetAttribute(int *v, int attr, int dev)
{
	if (!device_ok(dev)) {
		return 101;
	}
	LOCK();
	CUresult r = 0;
	switch (attr) {
	case 1: *v = 1024; break;
	case 16: *v = 4; break;
	case 75: *v = 7; break;
	case 76: *v = 0; break;
	case 115: *v = (int)values[MEMORY_POOLS]; break;
	default: r = 1;
	}
	UNLOCK();
	return r;
}

CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev)
{
	if (!device_ok(dev)) {
		return 101;
	}
	LOCK();
	values[CONTEXT_REFS]++;
	UNLOCK();
	*ctx = &context_token;
	return 0;
}

CUresult cuDevicePrimaryCtxRelease_v2(int dev)
{
	if (!device_ok(dev)) {
		return 101;
	}
	LOCK();
	CUresult r = values[CONTEXT_REFS] > 0 ? 0 : 201;
	if (r == 0) {
		values[CONTEXT_REFS]--;
	}
	UNLOCK();
	return r;
}

CUresult cuCtxSetCurrent(void *ctx)
{
	if (ctx != NULL && ctx != &context_token) {
		return 201;
	}
	current = ctx;
	return 0;
}

CUresult cuStreamCreate(void **s, unsigned flags)
{
	LOCK();
	NEED_CONTEXT();
	values[LIVE_STREAMS]++;
	*s = &stream_token;
	UNLOCK();
	return 0;
}

CUresult cuStreamDestroy_v2(void *s)
{
	LOCK();
	NEED_CONTEXT();
	values[LIVE_STREAMS]--;
	UNLOCK();
	return 0;
}

CUresult cuStreamSynchronize(void *s)
{
	LOCK();
	NEED_CONTEXT();
	values[WAITS]++;
	run_queue();
	CUresult r = sticky;
	UNLOCK();
	return r;
}

static CUresult add_device(void **p, size_t bytes)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t span = (bytes + page - 1) / page * page;
	char *m = mmap(NULL, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		return 2;
	}
	mprotect(m + span, page, PROT_NONE);
	struct alloc *a = calloc(1, sizeof *a);
	a->map = m;
	a->map_bytes = span + page;
	a->base = m + ((span - bytes) & ~(size_t)3);
	a->bytes = bytes;
	memset(a->base, 0x5a, bytes); /* device memory is not zeroed */
	a->next = allocs;
	allocs = a;
	*p = a->base;
	return 0;
}

static CUresult alloc_device(CUdeviceptr *p, size_t bytes)
{
	if (bytes == 0) {
		return 1;
	}
	if (bytes == FAKE_ODD_BYTES) {
		return FAKE_ODD_CODE;
	}
	if (bytes > ((size_t)16 << 30)) {
		return 2;
	}
	void *h;
	CUresult r = add_device(&h, bytes);
	*p = (CUdeviceptr)(uintptr_t)h;
	return r;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes)
{
	LOCK();
	NEED_CONTEXT();
	CUresult r = alloc_device(p, bytes);
	UNLOCK();
	return r;
}

/* cuMemFree_v2 waits for the queued work, as cudaFree does. */
CUresult cuMemFree_v2(CUdeviceptr p)
{
	LOCK();
	NEED_CONTEXT();
	values[MEM_FREES]++;
	wait_for_queue();
	CUresult r = sticky;
	struct alloc *a = find_alloc((void *)(uintptr_t)p, 0);
	if (!r) {
		r = a ? 0 : 1;
		if (a) {
			release(a);
		}
	}
	UNLOCK();
	return r;
}

CUresult cuMemAllocAsync(CUdeviceptr *p, size_t bytes, void *s)
{
	LOCK();
	NEED_CONTEXT();
	if (!values[MEMORY_POOLS]) {
		UNLOCK();
		return 801;
	}
	CUresult r = alloc_device(p, bytes);
	values[ASYNC_ALLOCS] += r == 0;
	UNLOCK();
	return r;
}

/* cuMemFreeAsync frees in stream order. */
CUresult cuMemFreeAsync(CUdeviceptr p, void *s)
{
	LOCK();
	NEED_CONTEXT();
	if (!values[MEMORY_POOLS]) {
		UNLOCK();
		return 801;
	}
	if (!find_alloc((void *)(uintptr_t)p, 0)) {
		UNLOCK();
		return 1;
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_FREE;
	o->dst = (void *)(uintptr_t)p;
	enqueue(o);
	values[ASYNC_FREES]++;
	UNLOCK();
	return 0;
}

CUresult cuDeviceGetDefaultMemPool(void **pool, int dev)
{
	LOCK();
	CUresult r = !device_ok(dev) ? 101 : values[MEMORY_POOLS] ? 0 : 801;
	if (r == 0) {
		*pool = &pool_token;
	}
	UNLOCK();
	return r;
}

CUresult cuMemPoolSetAttribute(void *pool, int attr, void *value)
{
	LOCK();
	NEED_CONTEXT();
	CUresult r = 1;
	if (pool == &pool_token && attr == 4) { /* CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, a cuuint64_t */
		values[RELEASE_THRESHOLD] = (long long)*(uint64_t *)value;
		r = 0;
	}
	UNLOCK();
	return r;
}

CUresult cuMemHostAlloc(void **p, size_t bytes, unsigned flags)
{
	LOCK();
	NEED_CONTEXT();
	struct alloc *a = calloc(1, sizeof *a);
	a->base = malloc(bytes ? bytes : 1);
	a->bytes = bytes;
	a->host = 1;
	a->next = allocs;
	allocs = a;
	*p = a->base;
	UNLOCK();
	return 0;
}

CUresult cuMemFreeHost(void *p)
{
	LOCK();
	NEED_CONTEXT();
	struct alloc *a = find_alloc(p, 1);
	if (a) {
		release(a);
	}
	UNLOCK();
	return a ? 0 : 1;
}

CUresult cuMemsetD32Async(CUdeviceptr p, unsigned value, size_t n, void *s)
{
	LOCK();
	NEED_CONTEXT();
	if (!within((void *)(uintptr_t)p, 4 * n, 0)) {
		UNLOCK();
		return 1;
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_MEMSET;
	o->dst = (void *)(uintptr_t)p;
	o->bytes = 4 * n;
	o->value = value;
	enqueue(o);
	UNLOCK();
	return 0;
}

/* From page-locked memory the copy reads src when the stream reaches it;
 * from pageable memory the driver stages src before it returns. */
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *s)
{
	LOCK();
	NEED_CONTEXT();
	if (!within((void *)(uintptr_t)dst, bytes, 0)) {
		UNLOCK();
		return 1;
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_COPY;
	o->dst = (void *)(uintptr_t)dst;
	o->src = src;
	o->bytes = bytes;
	if (!within(src, bytes, 1)) {
		o->owned = malloc(bytes ? bytes : 1);
		memcpy(o->owned, src, bytes);
		o->src = o->owned;
	}
	enqueue(o);
	UNLOCK();
	return 0;
}

/* Into page-locked memory the copy runs in stream order; into pageable
 * memory the call returns once it is done. */
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *s)
{
	LOCK();
	NEED_CONTEXT();
	if (!within((void *)(uintptr_t)src, bytes, 0)) {
		UNLOCK();
		return 1;
	}
	if (!within(dst, bytes, 1)) {
		wait_for_queue();
		CUresult r = sticky;
		if (!r) {
			memcpy(dst, (void *)(uintptr_t)src, bytes);
		}
		UNLOCK();
		return r;
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_COPY;
	o->dst = dst;
	o->src = (void *)(uintptr_t)src;
	o->bytes = bytes;
	enqueue(o);
	UNLOCK();
	return 0;
}

/* Modules: the parameter sizes of each .entry of the PTX, and its host
 * build. */
#define MAXKERNELS 64
static struct kernel kernels[MAXKERNELS];
static int nkernels;

/* jit_log writes a message into the log buffer of option pair (buf, size)
 * of cuModuleLoadDataEx and stores its length in the size value, as the
 * driver does. */
static void jit_log(unsigned nopt, const int *options, void **values_, int buf, int size, const char *msg)
{
	char *out = NULL;
	size_t cap = 0;
	int at = -1;
	for (unsigned i = 0; i < nopt; i++) {
		if (options[i] == buf) {
			out = values_[i];
		}
		if (options[i] == size) {
			cap = (uintptr_t)values_[i];
			at = (int)i;
		}
	}
	if (!out || cap == 0) {
		return;
	}
	snprintf(out, cap, "%s", msg);
	values_[at] = (void *)(uintptr_t)strlen(out);
}

CUresult cuModuleLoadDataEx(void **m, const void *image, unsigned nopt, int *options, void **optvalues)
{
	LOCK();
	NEED_CONTEXT();
	const char *ptx = image;
	size_t len = strlen(ptx);
	char err[512] = "", info[8192] = "";
	CUresult r = 0;
	if (len < 100 || !strstr(ptx, ".version") || !strstr(ptx, ".target sm_")) {
		r = 218;
		snprintf(err, sizeof err, "fakecuda: not PTX");
	}
	for (unsigned i = 0; i < nopt; i++) {
		if ((options[i] == 4 || options[i] == 6) && (uintptr_t)optvalues[i] < 64) {
			r = 1; /* a log size is the value itself */
		}
	}
	nkernels = 0;
	for (const char *at = strstr(ptx, ".entry "); !r && at; at = strstr(at + 1, ".entry ")) {
		if (nkernels == MAXKERNELS) {
			r = 218;
			break;
		}
		struct kernel *k = &kernels[nkernels++];
		const char *name = at + 7, *open = strchr(name, '(');
		memset(k, 0, sizeof *k);
		if (!open || open - name >= (long)sizeof k->name) {
			r = 218;
			break;
		}
		memcpy(k->name, name, open - name);
		const char *end = strchr(open, ')');
		for (const char *p = strstr(open, ".param "); p && p < end && k->nparams < 32; p = strstr(p + 1, ".param ")) {
			k->sizes[k->nparams++] = strncmp(p + 7, ".u64", 4) == 0 || strncmp(p + 7, ".b64", 4) == 0 ? 8 : 4;
		}
		for (const struct mtl_host_kernel *h = mtl_host_kernels; h->name; h++) {
			if (strcmp(h->name, k->name) == 0) {
				k->host = h;
			}
		}
		if (!k->host) {
			r = 218;
			snprintf(err, sizeof err, "fakecuda: kernel %s of the PTX has no host build", k->name);
		} else if (k->host->args != k->nparams) {
			r = 218;
			snprintf(err, sizeof err, "fakecuda: kernel %s has %d parameters in the PTX, %d in its host build",
				k->name, k->nparams, k->host->args);
		} else {
			size_t used = strlen(info);
			snprintf(info + used, sizeof info - used, "fakecuda: %s: %d parameters, host build\n", k->name, k->nparams);
		}
	}
	if (r) {
		nkernels = 0;
		jit_log(nopt, options, optvalues, 5, 6, err);
		UNLOCK();
		return r;
	}
	jit_log(nopt, options, optvalues, 3, 4, info);
	values[LIVE_MODULES]++;
	*m = &module_token;
	UNLOCK();
	return 0;
}

CUresult cuModuleUnload(void *m)
{
	LOCK();
	NEED_CONTEXT();
	values[LIVE_MODULES]--;
	UNLOCK();
	return 0;
}

CUresult cuModuleGetFunction(void **f, void *m, const char *name)
{
	LOCK();
	NEED_CONTEXT();
	for (int i = 0; i < nkernels; i++) {
		if (strcmp(kernels[i].name, name) == 0) {
			*f = &kernels[i];
			UNLOCK();
			return 0;
		}
	}
	UNLOCK();
	return 500;
}

CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
	unsigned shared, void *s, void **params, void **extra)
{
	LOCK();
	NEED_CONTEXT();
	const struct kernel *k = f;
	if (k < kernels || k >= kernels + nkernels) {
		UNLOCK();
		return 400;
	}
	if (!gx || !gy || !gz || !bx || !by || !bz || bx > 1024 || by > 1024 || bz > 64 || bx * by * bz > MAX_THREADS ||
		gx > 0x7fffffffu || gy > 65535 || gz > 65535 || shared || extra) {
		UNLOCK();
		return 1;
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_KERNEL;
	o->k = k;
	for (int i = 0; i < k->nparams; i++) {
		memcpy(&o->args[i], params[i], k->sizes[i]);
	}
	if (values[FAULT_AT_LAUNCH] > 0 && --values[FAULT_AT_LAUNCH] == 0) {
		o->kind = OP_FAULT;
		o->code = (CUresult)values[FAULT_CODE];
	}
	o->grid[0] = gx, o->grid[1] = gy, o->grid[2] = gz;
	o->block[0] = bx, o->block[1] = by, o->block[2] = bz;
	values[LAUNCHES]++;
	enqueue(o);
	UNLOCK();
	return 0;
}

CUresult cuGetErrorName(CUresult r, const char **s)
{
	switch (r) {
	case 0: *s = "CUDA_SUCCESS"; return 0;
	case 700: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; return 0;
	case 719: *s = "CUDA_ERROR_LAUNCH_FAILED"; return 0;
	case FAKE_ODD_CODE: *s = "CUDA_ERROR_FAKE"; return 0;
	}
	*s = NULL;
	return 1;
}

CUresult cuGetErrorString(CUresult r, const char **s)
{
	switch (r) {
	case 2: *s = "out of memory"; return 0;
	case 700: *s = "an illegal memory access was encountered"; return 0;
	case 702: *s = "the launch timed out and was terminated"; return 0;
	case 719: *s = "unspecified launch failure"; return 0;
	case FAKE_ODD_CODE: *s = "a fake error"; return 0;
	}
	*s = NULL;
	return 1;
}
