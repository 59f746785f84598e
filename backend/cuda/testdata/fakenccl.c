/*
 * A stand-in for NCCL (libnccl.so.2), for testing data-parallel training on
 * the CUDA backend on machines without GPUs, on top of the stand-in driver
 * (fakecuda.c), which it is linked with. The ranks of a communicator are
 * processes of this machine, one per rank, as mpirun starts them; each has
 * its own stand-in device.
 *
 * The unique ID names a POSIX shared-memory object (shm_open), which the
 * ranks create or open in ncclCommInitRank and unlink as soon as all of
 * them have it mapped, so a job that crashes leaves nothing behind. It
 * holds a barrier, the count and sequence number of each rank's current
 * collective, and a slot of CHUNK floats per rank.
 *
 * ncclAllReduce checks its arguments and queues the collective on the
 * driver's stream: it runs in stream order when the host waits, as a NCCL
 * kernel would, so a host that reads the result before waiting gets stale
 * data. It reduces the buffer a chunk at a time: each rank copies its
 * chunk into its slot, the ranks meet at a barrier, each sums the slots in
 * rank order 0, 1, ..., n-1 into its receive buffer, and a second barrier
 * keeps the slots until every rank has read them. Every rank therefore gets
 * the same bits, whatever the timing; real NCCL rings and trees sum in
 * other orders.
 *
 * A collective that cannot finish faults the device with
 * CUDA_ERROR_LAUNCH_FAILED (719, sticky, so the host's next wait reports
 * it) and leaves an asynchronous error on the communicator
 * (ncclCommGetAsyncError): ncclRemoteError when another rank aborted, when
 * a barrier waits longer than the time limit or when another rank's
 * buffers turned out not to be device memory; ncclInvalidUsage when the
 * ranks' collectives differ in count or order; ncclUnhandledCudaError for
 * the rank whose buffers are not device memory when the collective runs
 * (which faults with 700, an illegal address, instead). Any of these marks
 * the shared object aborted, so the other ranks fail at once instead of
 * waiting out the time limit. Real NCCL leaves a stream sync after an
 * abort successful and reports the error only through
 * ncclCommGetAsyncError; a stand-in that fails the stream makes a backend
 * that forgets to look see the error all the same.
 *
 * ncclCommAbort marks the shared object aborted, from any thread, even
 * while the host waits in a collective of the same communicator; a call
 * that races with it on another thread finds the communicator released
 * (ncclInvalidUsage) or aborted, never freed: a released communicator
 * keeps a few bytes of memory, and its shared object stays mapped until
 * its queued collectives have run.
 * ncclCommDestroy first runs the queued work when collectives of the
 * communicator are still queued, as ncclCommFinalize flushes them.
 *
 * Limits: float32 sums only (ncclAllReduce of ncclFloat32 with ncclSum);
 * blocking communicators; no groups, no other collectives, no
 * point-to-point. The ranks of one communicator must be processes of one
 * machine sharing /dev/shm, with at most MAX_RANKS ranks; the shared
 * object takes 4 MiB per rank there. ncclCommInitRank needs the driver's
 * current context on the calling thread, as the launches of real NCCL do.
 *
 * The environment variable FAKE_NCCL_TIMEOUT, read by ncclCommInitRank,
 * sets in seconds how long the ranks wait for each other, in
 * ncclCommInitRank (60 s by default) and in each barrier of a collective
 * (120 s by default); the wait then fails with ncclSystemError and a
 * fault respectively.
 *
 * Test hook: fakenccl_get reads the counters "allreduces" (collectives
 * queued), "allreduces_run" (collectives that finished), "allreduces_failed"
 * (collectives that failed when they ran), "values" (floats reduced by the
 * finished ones), "comms" (live communicators) and "aborts".
 *
 * Build: cc -shared -fPIC -O2 -o libnccl.so.2 fakenccl.c -L. -lfakecuda -Wl,-rpath,'$ORIGIN' -lpthread -lrt
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* From fakecuda.c. */
int fake_have_context(void);
int fake_sticky(void);
int fake_device_memory(const void *p, size_t bytes);
void fake_enqueue_host(int (*fn)(void *), void *data);
int fake_flush(void);

/* The ABI of nccl.h (NCCL 2.x). */
typedef enum {
	ncclSuccess = 0,
	ncclUnhandledCudaError = 1,
	ncclSystemError = 2,
	ncclInternalError = 3,
	ncclInvalidArgument = 4,
	ncclInvalidUsage = 5,
	ncclRemoteError = 6,
	ncclInProgress = 7,
} ncclResult_t;
typedef struct {
	char internal[128];
} ncclUniqueId;
typedef struct ncclComm *ncclComm_t;
enum { ncclInt8, ncclUint8, ncclInt32, ncclUint32, ncclInt64, ncclUint64, ncclFloat16, ncclFloat32, ncclFloat64 };
enum { ncclSum, ncclProd, ncclMax, ncclMin, ncclAvg };

#define FAKE_NCCL_VERSION 22304 /* 2.23.4 */
#define CHUNK (1 << 20)         /* floats per rank and round */
#define MAX_RANKS 256
#define ID_PREFIX "/fakenccl-"
#define COMM_MAGIC 0x6e63636cu
#define LAUNCH_FAILED 719
#define ILLEGAL_ADDRESS 700

/* The shared object: this header, then the slots, nranks × CHUNK floats.
 * A new object is zero, which is the state before the first rank joins. */
struct shared {
	atomic_int nranks;    /* set by the first rank that joins */
	atomic_int joined;    /* ranks that joined */
	atomic_int aborted;   /* 0, or the error the ranks' collectives fail with */
	atomic_uint arrived;  /* ranks waiting at the barrier */
	atomic_uint generation; /* barriers passed */
	atomic_int rank_in[MAX_RANKS];
	/* The count and sequence number of each rank's current collective,
	 * written before its first barrier and read after it. */
	long long counts[MAX_RANKS];
	unsigned long long seqs[MAX_RANKS];
};
#define SLOTS_OFFSET ((sizeof(struct shared) + 4095) & ~(size_t)4095)

struct ncclComm {
	unsigned magic;
	struct shared *sh;
	float *slots;
	size_t map_bytes;
	int nranks, rank;
	double timeout; /* seconds a barrier waits */
	atomic_ullong seq;    /* collectives queued */
	atomic_int refs;      /* the caller's, until abort or destroy, and one per queued collective */
	atomic_int pending;   /* collectives queued and not yet run */
	atomic_int released;  /* aborted or destroyed */
	atomic_int error;     /* the asynchronous error, or 0 */
};

/* Counters. */
enum { ALLREDUCES, ALLREDUCES_RUN, ALLREDUCES_FAILED, VALUES, COMMS, ABORTS, NCOUNTERS };
static const char *const counter_names[NCOUNTERS] = {
	"allreduces", "allreduces_run", "allreduces_failed", "values", "comms", "aborts",
};
static atomic_long counters[NCOUNTERS];

/* fakenccl_get returns a counter, or -1 for a name that is none. */
long fakenccl_get(const char *name)
{
	for (int i = 0; i < NCOUNTERS; i++) {
		if (strcmp(counter_names[i], name) == 0) {
			return atomic_load(&counters[i]);
		}
	}
	fprintf(stderr, "fakenccl: no counter %s\n", name);
	return -1;
}

/* The last error, for ncclGetLastError. */
static pthread_mutex_t error_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_error[512];

/* fail records a message as the last error and returns r. */
static ncclResult_t fail(ncclResult_t r, const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	pthread_mutex_lock(&error_mu);
	vsnprintf(last_error, sizeof last_error, format, ap);
	pthread_mutex_unlock(&error_mu);
	va_end(ap);
	return r;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* pause_a_little gives the processor away while a rank waits: at first by
 * yielding, then by sleeping 50 µs, and after some 0.5 s by sleeping 1 ms,
 * so waiting ranks neither starve the others of a machine with fewer cores
 * than ranks nor keep it busy while one rank computes for long. */
static void pause_a_little(unsigned spin)
{
	if (spin < 1000) {
		sched_yield();
		return;
	}
	struct timespec ts = {0, spin < 11000 ? 50000 : 1000000};
	nanosleep(&ts, NULL);
}

/* timeout returns the seconds of FAKE_NCCL_TIMEOUT, or def. */
static double timeout(double def)
{
	const char *env = getenv("FAKE_NCCL_TIMEOUT");
	if (env && *env) {
		char *end;
		double t = strtod(env, &end);
		if (*end == 0 && t > 0) {
			return t;
		}
		fprintf(stderr, "fakenccl: FAKE_NCCL_TIMEOUT=%s is not a number of seconds; using %g\n", env, def);
	}
	return def;
}

/* mark_aborted makes the ranks' collectives fail with why, unless they
 * already fail with an earlier error. */
static void mark_aborted(struct shared *sh, int why)
{
	int zero = 0;
	atomic_compare_exchange_strong(&sh->aborted, &zero, why);
}

/* unref drops a reference; the last one unmaps the shared object. The
 * struct itself stays, a few bytes per communicator, so that a call that
 * races with ncclCommAbort on another thread finds it released instead of
 * freed. */
static void unref(struct ncclComm *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		munmap(c->sh, c->map_bytes);
	}
}

/* ref takes a reference, which keeps the shared object mapped, unless the
 * last one is gone. */
static int ref(struct ncclComm *c)
{
	int n = atomic_load(&c->refs);
	while (n > 0) {
		if (atomic_compare_exchange_weak(&c->refs, &n, n + 1)) {
			return 1;
		}
	}
	return 0;
}

/* comm_ok reports whether c is a live communicator. */
static ncclResult_t comm_ok(const struct ncclComm *c)
{
	if (!c || c->magic != COMM_MAGIC) {
		return fail(ncclInvalidArgument, "fakenccl: not a communicator");
	}
	if (atomic_load(&c->released)) {
		return fail(ncclInvalidUsage, "fakenccl: the communicator was aborted or destroyed");
	}
	return ncclSuccess;
}

/* release marks the live communicator c released, once, for
 * ncclCommAbort and ncclCommDestroy; a call that races with another
 * finds it released. */
static ncclResult_t release(struct ncclComm *c)
{
	ncclResult_t r = comm_ok(c);
	if (r) {
		return r;
	}
	if (atomic_exchange(&c->released, 1)) {
		return fail(ncclInvalidUsage, "fakenccl: the communicator was aborted or destroyed");
	}
	return ncclSuccess;
}

ncclResult_t ncclGetVersion(int *version)
{
	if (!version) {
		return fail(ncclInvalidArgument, "fakenccl: ncclGetVersion of NULL");
	}
	*version = FAKE_NCCL_VERSION;
	return ncclSuccess;
}

/* ncclGetUniqueId makes a name no other communicator of the machine has:
 * the process, a counter and the time. */
ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
	static atomic_uint serial;
	if (!id) {
		return fail(ncclInvalidArgument, "fakenccl: ncclGetUniqueId of NULL");
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(id, 0, sizeof *id);
	snprintf(id->internal, sizeof id->internal, ID_PREFIX "%d-%u-%lld.%09ld", (int)getpid(),
		atomic_fetch_add(&serial, 1), (long long)ts.tv_sec, ts.tv_nsec);
	return ncclSuccess;
}

/* grow makes the object at least bytes long, with its memory reserved, so
 * that a full /dev/shm fails here and not with SIGBUS in a collective. It
 * never shrinks it: each rank grows the object it may have created itself. */
static int grow(int fd, size_t bytes)
{
	if (fallocate(fd, 0, 0, (off_t)bytes) == 0) {
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != ENOSYS) {
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		return -1;
	}
	return st.st_size >= (off_t)bytes ? 0 : ftruncate(fd, (off_t)bytes);
}

/* ncclCommInitRank joins the communicator of id as rank, and returns once
 * all nranks ranks have joined. */
ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank)
{
	if (!comm) {
		return fail(ncclInvalidArgument, "fakenccl: ncclCommInitRank into NULL");
	}
	if (nranks < 1 || nranks > MAX_RANKS) {
		return fail(ncclInvalidArgument, "fakenccl: %d ranks (the stand-in takes 1 to %d)", nranks, MAX_RANKS);
	}
	if (rank < 0 || rank >= nranks) {
		return fail(ncclInvalidArgument, "fakenccl: rank %d of %d", rank, nranks);
	}
	if (strncmp(id.internal, ID_PREFIX, strlen(ID_PREFIX)) != 0 || !memchr(id.internal, 0, sizeof id.internal)) {
		return fail(ncclInvalidArgument, "fakenccl: not a unique ID of ncclGetUniqueId");
	}
	if (!fake_have_context()) {
		return fail(ncclUnhandledCudaError, "fakenccl: no current CUDA context");
	}
	if (fake_sticky()) {
		return fail(ncclUnhandledCudaError, "fakenccl: the device has faulted (%d)", fake_sticky());
	}
	const char *name = id.internal;
	size_t bytes = SLOTS_OFFSET + (size_t)nranks * CHUNK * sizeof(float);
	int fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	if (fd < 0) {
		return fail(ncclSystemError, "fakenccl: shm_open %s: %s", name, strerror(errno));
	}
	if (grow(fd, bytes) != 0) {
		int e = errno;
		close(fd);
		return fail(ncclSystemError, "fakenccl: reserving %zu bytes of /dev/shm for %s: %s", bytes, name, strerror(e));
	}
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (m == MAP_FAILED) {
		return fail(ncclSystemError, "fakenccl: mmap %s: %s", name, strerror(e));
	}
	struct shared *sh = m;
	int was = 0;
	if (!atomic_compare_exchange_strong(&sh->nranks, &was, nranks) && was != nranks) {
		munmap(m, bytes);
		return fail(ncclInvalidUsage, "fakenccl: rank %d joins with %d ranks, another rank with %d", rank, nranks, was);
	}
	if (atomic_exchange(&sh->rank_in[rank], 1)) {
		munmap(m, bytes);
		return fail(ncclInvalidUsage, "fakenccl: rank %d joined twice", rank);
	}
	if (atomic_fetch_add(&sh->joined, 1) + 1 == nranks) {
		shm_unlink(name); /* every rank has it mapped */
	}
	double limit = timeout(60), deadline = now() + limit;
	for (unsigned spin = 0; atomic_load(&sh->joined) < nranks; spin++) {
		ncclResult_t r = ncclSuccess;
		if (atomic_load(&sh->aborted)) {
			r = fail(ncclSystemError, "fakenccl: another rank gave up waiting for the ranks to join");
		} else if (now() > deadline) {
			r = fail(ncclSystemError, "fakenccl: rank %d: %d of %d ranks joined in %g s", rank,
				atomic_load(&sh->joined), nranks, limit);
		}
		if (r) {
			mark_aborted(sh, ncclRemoteError);
			shm_unlink(name);
			munmap(m, bytes);
			return r;
		}
		pause_a_little(spin);
	}
	struct ncclComm *c = calloc(1, sizeof *c);
	if (!c) {
		munmap(m, bytes);
		return fail(ncclSystemError, "fakenccl: out of memory");
	}
	c->magic = COMM_MAGIC;
	c->sh = sh;
	c->slots = (float *)((char *)m + SLOTS_OFFSET);
	c->map_bytes = bytes;
	c->nranks = nranks;
	c->rank = rank;
	c->timeout = timeout(120);
	atomic_init(&c->refs, 1);
	atomic_fetch_add(&counters[COMMS], 1);
	*comm = c;
	return ncclSuccess;
}

/* barrier waits until every rank of c reached it, and returns 0, or the
 * asynchronous error when the communicator is aborted or the wait times
 * out. The last rank to arrive starts the next generation, which releases
 * the others. */
static int barrier(struct ncclComm *c)
{
	struct shared *sh = c->sh;
	int why = atomic_load(&sh->aborted);
	if (why) {
		return why;
	}
	unsigned gen = atomic_load(&sh->generation);
	if (atomic_fetch_add(&sh->arrived, 1) == (unsigned)c->nranks - 1) {
		atomic_store(&sh->arrived, 0);
		atomic_fetch_add(&sh->generation, 1);
		return 0;
	}
	double deadline = now() + c->timeout;
	for (unsigned spin = 0; atomic_load(&sh->generation) == gen; spin++) {
		if ((why = atomic_load(&sh->aborted))) {
			return why;
		}
		if (spin % 64 == 0 && now() > deadline) {
			fprintf(stderr, "fakenccl: rank %d waited %g s for the other ranks in a collective\n", c->rank, c->timeout);
			mark_aborted(sh, ncclRemoteError);
			return ncclRemoteError;
		}
		pause_a_little(spin);
	}
	return 0;
}

struct allreduce {
	struct ncclComm *comm;
	const float *send;
	float *recv;
	size_t count;
	unsigned long long seq;
};

/* reduce runs an all-reduce and returns 0, or the asynchronous error. */
static int reduce(const struct allreduce *a)
{
	struct ncclComm *c = a->comm;
	struct shared *sh = c->sh;
	const int n = c->nranks;
	float *mine = c->slots + (size_t)c->rank * CHUNK;
	for (size_t off = 0; off == 0 || off < a->count; off += CHUNK) {
		size_t len = a->count - off < CHUNK ? a->count - off : CHUNK;
		if (off == 0) {
			sh->counts[c->rank] = (long long)a->count;
			sh->seqs[c->rank] = a->seq;
		}
		memcpy(mine, a->send + off, len * sizeof(float));
		int why = barrier(c);
		if (why) {
			return why;
		}
		if (off == 0) {
			for (int r = 0; r < n; r++) {
				if (sh->counts[r] != (long long)a->count || sh->seqs[r] != a->seq) {
					fprintf(stderr, "fakenccl: rank %d: all-reduce %llu of %zu values meets rank %d's %llu of %lld\n",
						c->rank, a->seq, a->count, r, sh->seqs[r], sh->counts[r]);
					mark_aborted(sh, ncclInvalidUsage);
					return ncclInvalidUsage;
				}
			}
		}
		/* In rank order for every element: slot 0, then + slot 1, ... */
		float *out = a->recv + off;
		memcpy(out, c->slots, len * sizeof(float));
		for (int r = 1; r < n; r++) {
			const float *s = c->slots + (size_t)r * CHUNK;
			for (size_t i = 0; i < len; i++) {
				out[i] += s[i];
			}
		}
		if ((why = barrier(c))) {
			return why;
		}
	}
	return 0;
}

/* run_allreduce is the collective the stream runs. Buffers freed since
 * the call are an illegal address, as for a kernel. */
static int run_allreduce(void *data)
{
	const struct allreduce *a = data;
	struct ncclComm *c = a->comm;
	int fault = 0, why = 0;
	if (!fake_device_memory(a->send, a->count * sizeof(float)) || !fake_device_memory(a->recv, a->count * sizeof(float))) {
		fault = ILLEGAL_ADDRESS;
		why = ncclUnhandledCudaError;
		mark_aborted(c->sh, ncclRemoteError);
	} else if ((why = reduce(a))) {
		fault = LAUNCH_FAILED;
	}
	if (why) {
		int zero = 0;
		atomic_compare_exchange_strong(&c->error, &zero, why);
		atomic_fetch_add(&counters[ALLREDUCES_FAILED], 1);
	} else {
		atomic_fetch_add(&counters[ALLREDUCES_RUN], 1);
		atomic_fetch_add(&counters[VALUES], (long)a->count);
	}
	atomic_fetch_sub(&c->pending, 1);
	unref(c);
	return fault;
}

/* check_allreduce checks the arguments of an all-reduce. */
static ncclResult_t check_allreduce(const void *sendbuff, void *recvbuff, size_t count, int datatype, int op,
	ncclComm_t comm)
{
	if (datatype != ncclFloat32) {
		return fail(ncclInvalidArgument, "fakenccl: data type %d (the stand-in takes ncclFloat32 alone)", datatype);
	}
	if (op != ncclSum) {
		return fail(ncclInvalidArgument, "fakenccl: reduction %d (the stand-in takes ncclSum alone)", op);
	}
	int why = atomic_load(&comm->error);
	if (!why) {
		why = atomic_load(&comm->sh->aborted);
	}
	if (why) {
		return fail(why, "fakenccl: the communicator failed (%d)", why);
	}
	if (count == 0) {
		return ncclSuccess;
	}
	if (!fake_have_context()) {
		return fail(ncclUnhandledCudaError, "fakenccl: no current CUDA context");
	}
	if (fake_sticky()) {
		return fail(ncclUnhandledCudaError, "fakenccl: the device has faulted (%d)", fake_sticky());
	}
	if (count > SIZE_MAX / sizeof(float)) {
		return fail(ncclInvalidArgument, "fakenccl: %zu values", count);
	}
	size_t bytes = count * sizeof(float);
	if (!fake_device_memory(sendbuff, bytes) || !fake_device_memory(recvbuff, bytes)) {
		return fail(ncclInvalidArgument, "fakenccl: a buffer of %zu values that is not device memory", count);
	}
	const char *s = sendbuff, *d = recvbuff;
	if (s != d && s < d + bytes && d < s + bytes) {
		return fail(ncclInvalidArgument, "fakenccl: send and receive buffers overlap");
	}
	return ncclSuccess;
}

/* ncclAllReduce queues the sum of sendbuff over the ranks into recvbuff,
 * count float32 values each (the same buffer for both, or disjoint ones).
 * The stand-in has one stream, so stream may be any. */
ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, int datatype, int op, ncclComm_t comm,
	void *stream)
{
	ncclResult_t r = comm_ok(comm);
	if (r) {
		return r;
	}
	if (!ref(comm)) {
		return fail(ncclInvalidUsage, "fakenccl: the communicator was aborted or destroyed");
	}
	r = check_allreduce(sendbuff, recvbuff, count, datatype, op, comm);
	struct allreduce *a = NULL;
	if (!r && count > 0 && !(a = malloc(sizeof *a))) {
		r = fail(ncclSystemError, "fakenccl: out of memory");
	}
	if (!a) {
		unref(comm);
		return r;
	}
	/* The reference taken is the queued collective's. */
	*a = (struct allreduce){comm, sendbuff, recvbuff, count, atomic_fetch_add(&comm->seq, 1)};
	atomic_fetch_add(&comm->pending, 1);
	atomic_fetch_add(&counters[ALLREDUCES], 1);
	fake_enqueue_host(run_allreduce, a);
	return ncclSuccess;
}

/* ncclCommAbort makes the collectives of every rank of comm fail, the
 * queued and waiting ones included, and releases comm. It takes no lock
 * of the driver, so another thread may call it while the host waits in a
 * collective of comm. */
ncclResult_t ncclCommAbort(ncclComm_t comm)
{
	if (!comm) {
		return ncclSuccess;
	}
	ncclResult_t r = release(comm);
	if (r) {
		return r;
	}
	mark_aborted(comm->sh, ncclRemoteError);
	atomic_fetch_add(&counters[ABORTS], 1);
	atomic_fetch_sub(&counters[COMMS], 1);
	unref(comm);
	return ncclSuccess;
}

/* ncclCommDestroy releases comm once its queued collectives have run;
 * ncclUnhandledCudaError says the device faulted running them. */
ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
	if (!comm) {
		return ncclSuccess;
	}
	ncclResult_t r = release(comm);
	if (r) {
		return r;
	}
	if (atomic_load(&comm->pending) > 0 && fake_flush()) {
		r = fail(ncclUnhandledCudaError, "fakenccl: the device faulted (%d) running the queued collectives", fake_sticky());
	}
	atomic_fetch_sub(&counters[COMMS], 1);
	unref(comm);
	return r;
}

ncclResult_t ncclCommCount(const ncclComm_t comm, int *count)
{
	ncclResult_t r = comm_ok(comm);
	if (r) {
		return r;
	}
	if (!count) {
		return fail(ncclInvalidArgument, "fakenccl: ncclCommCount into NULL");
	}
	*count = comm->nranks;
	return ncclSuccess;
}

ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank)
{
	ncclResult_t r = comm_ok(comm);
	if (r) {
		return r;
	}
	if (!rank) {
		return fail(ncclInvalidArgument, "fakenccl: ncclCommUserRank into NULL");
	}
	*rank = comm->rank;
	return ncclSuccess;
}

/* ncclCommGetAsyncError reports the error of a failed collective of comm,
 * or, before one of its own failed, ncclRemoteError once another rank
 * aborted. */
ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError)
{
	ncclResult_t r = comm_ok(comm);
	if (r) {
		return r;
	}
	if (!asyncError) {
		return fail(ncclInvalidArgument, "fakenccl: ncclCommGetAsyncError into NULL");
	}
	if (!ref(comm)) {
		return fail(ncclInvalidUsage, "fakenccl: the communicator was aborted or destroyed");
	}
	int why = atomic_load(&comm->error);
	*asyncError = why ? why : atomic_load(&comm->sh->aborted);
	unref(comm);
	return ncclSuccess;
}

/* The messages of NCCL 2.23. */
const char *ncclGetErrorString(ncclResult_t result)
{
	switch (result) {
	case ncclSuccess: return "no error";
	case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
	case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
	case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
	case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
	case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
	case ncclRemoteError: return "remote process exited or there was a network error";
	case ncclInProgress: return "NCCL operation in progress";
	}
	return "unknown result code";
}

/* ncclGetLastError returns the message of the last error of any
 * communicator of the process, as NCCL does; comm is not used. */
const char *ncclGetLastError(ncclComm_t comm)
{
	return last_error;
}
