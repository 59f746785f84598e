/*
 * Tests of the NCCL stand-in (fakenccl.c) on the stand-in driver
 * (fakecuda.c): a program that forks the ranks of each communicator, as
 * mpirun would start them, and exits 0 only when every check passes. Each
 * failed check prints a line "rank R: FAIL file:line: what".
 *
 * The ranks open the device of their rank, as the CUDA backend does under
 * mpirun: the program runs itself again with FAKE_CUDA_DEVICES=3 when the
 * variable is not so.
 *
 * Build, in a directory that holds libfakecuda.so and libnccl.so.2:
 *   cc -std=gnu11 -O2 -Wall -o fakenccl_test fakenccl_test.c \
 *      -L. -l:libnccl.so.2 -lfakecuda -Wl,-rpath,'$ORIGIN' -lpthread -lrt -lm
 *   ./fakenccl_test
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The stand-in driver. */
typedef int CUresult;
typedef unsigned long long CUdeviceptr;
CUresult cuInit(unsigned flags);
CUresult cuDeviceGetCount(int *n);
CUresult cuDeviceGet(int *dev, int ordinal);
CUresult cuDeviceGetName(char *name, int len, int dev);
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev);
CUresult cuDevicePrimaryCtxRelease_v2(int dev);
CUresult cuCtxSetCurrent(void *ctx);
CUresult cuStreamCreate(void **s, unsigned flags);
CUresult cuStreamSynchronize(void *s);
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes);
CUresult cuMemsetD32Async(CUdeviceptr p, unsigned value, size_t n, void *s);
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *s);
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *s);
long long fake_get(const char *name);
int fake_set(const char *name, long long v);
void fake_reset(void);

/* The stand-in NCCL. */
typedef struct {
	char internal[128];
} ncclUniqueId;
typedef struct ncclComm *ncclComm_t;
enum { ncclSuccess, ncclUnhandledCudaError, ncclSystemError, ncclInternalError, ncclInvalidArgument, ncclInvalidUsage,
	ncclRemoteError, ncclInProgress };
enum { ncclInt32 = 2, ncclFloat32 = 7 };
enum { ncclSum = 0, ncclMax = 2 };
int ncclGetVersion(int *version);
int ncclGetUniqueId(ncclUniqueId *id);
int ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank);
int ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, int datatype, int op, ncclComm_t comm, void *stream);
int ncclCommAbort(ncclComm_t comm);
int ncclCommDestroy(ncclComm_t comm);
int ncclCommCount(const ncclComm_t comm, int *count);
int ncclCommUserRank(const ncclComm_t comm, int *rank);
const char *ncclGetErrorString(int result);
const char *ncclGetLastError(ncclComm_t comm);
int ncclCommGetAsyncError(ncclComm_t comm, int *asyncError);
long fakenccl_get(const char *name);

#define CHUNK (1 << 20) /* the stand-in's floats per round */
#define DEVICES 3
#define SENTINEL 0x7fc0beefu /* a NaN no sum makes */

static int me = -1; /* the rank of this process */
static int failures;

/* failed prints a failed check in one write, so that the lines of the
 * ranks do not mix. */
static void failed(int line, const char *format, ...)
{
	char msg[512];
	int n = snprintf(msg, sizeof msg, "rank %d: FAIL %s:%d: ", me, __FILE__, line);
	va_list ap;
	va_start(ap, format);
	vsnprintf(msg + n, sizeof msg - n - 1, format, ap);
	va_end(ap);
	strcat(msg, "\n");
	fputs(msg, stderr);
	failures++;
}

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) { \
			failed(__LINE__, __VA_ARGS__); \
		} \
	} while (0)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

/* value is element i of rank r's buffer: signs and exponents vary, so that
 * sums in different orders round differently. */
static float value(int r, size_t i)
{
	uint64_t z = (uint64_t)(r + 1) * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL;
	z ^= z >> 31;
	z *= 0x94d049bb133111ebULL;
	z ^= z >> 29;
	float v = ldexpf((float)(z & 0xffffff) / (1 << 24) + 0.5f, (int)((z >> 24) % 17) - 8);
	return z >> 63 ? -v : v;
}

static void fill(float *x, int r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		x[i] = value(r, i);
	}
}

/* expect is the sum over n ranks in rank order, as the stand-in sums. */
static void expect(float *x, int n, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		float s = value(0, i);
		for (int r = 1; r < n; r++) {
			s += value(r, i);
		}
		x[i] = s;
	}
}

static float *host(CUdeviceptr p) { return (float *)(uintptr_t)p; }

/* first_difference returns the first index where a and b differ in their
 * bits, or -1. */
static long first_difference(const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (memcmp(&a[i], &b[i], sizeof a[i]) != 0) {
			return (long)i;
		}
	}
	return -1;
}

/* open_device makes device dev's primary context current and returns the
 * stream, as the backend does. */
static void *open_device(int dev)
{
	void *ctx = NULL, *s = NULL;
	int d = -1;
	CHECK(cuInit(0) == 0, "cuInit");
	CHECK(cuDeviceGet(&d, dev) == 0 && d == dev, "cuDeviceGet(%d) gives %d", dev, d);
	CHECK(cuDevicePrimaryCtxRetain(&ctx, d) == 0, "cuDevicePrimaryCtxRetain(%d)", d);
	CHECK(cuCtxSetCurrent(ctx) == 0, "cuCtxSetCurrent");
	CHECK(cuStreamCreate(&s, 1) == 0, "cuStreamCreate");
	return s;
}

static CUdeviceptr alloc(size_t n)
{
	CUdeviceptr p = 0;
	CHECK(cuMemAlloc_v2(&p, n * sizeof(float)) == 0, "cuMemAlloc_v2 of %zu floats", n);
	return p;
}

static ncclComm_t join(int nranks, ncclUniqueId id, int rank)
{
	ncclComm_t c = NULL;
	int r = ncclCommInitRank(&c, nranks, id, rank);
	CHECK(r == ncclSuccess, "ncclCommInitRank: %s: %s", ncclGetErrorString(r), ncclGetLastError(NULL));
	return c;
}

/* shm_exists reports whether the shared object of id is still there. */
static int shm_exists(const ncclUniqueId *id)
{
	int fd = shm_open(id->internal, O_RDONLY, 0);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return 0;
}

/* sync_failing waits for the stream and checks that it fails with 719
 * within a few seconds, long before the stand-in's 120 s time limit. */
static void sync_failing(void *s, const char *why)
{
	double t0 = now();
	CUresult r = cuStreamSynchronize(s);
	double t = now() - t0;
	CHECK(r == 719, "%s: cuStreamSynchronize = %d, want 719", why, r);
	CHECK(t < 10, "%s: the collective failed after %.1f s", why, t);
}

/* wait_async waits up to 10 s for the communicator's asynchronous error. */
static int wait_async(ncclComm_t c)
{
	int e = 0;
	for (double end = now() + 10; now() < end; sleep_s(0.01)) {
		CHECK(ncclCommGetAsyncError(c, &e) == ncclSuccess, "ncclCommGetAsyncError");
		if (e != ncclSuccess) {
			break;
		}
	}
	return e;
}

/* Scenarios: each runs as one rank of nranks processes. */

/* devices: the count of devices, and what takes an ordinal. */
static void devices(int rank, int nranks, ncclUniqueId id)
{
	int n = 0, d = -1;
	char name[32];
	void *ctx = NULL, *ctx2 = NULL;
	CHECK(cuInit(0) == 0, "cuInit");
	CHECK(cuDeviceGetCount(&n) == 0 && n == DEVICES, "cuDeviceGetCount gives %d, want %d", n, DEVICES);
	CHECK(fake_get("devices") == DEVICES, "devices = %lld", fake_get("devices"));
	CHECK(cuDeviceGet(&d, DEVICES - 1) == 0 && d == DEVICES - 1, "cuDeviceGet(%d) gives %d", DEVICES - 1, d);
	CHECK(cuDeviceGet(&d, DEVICES) == 101, "cuDeviceGet(%d) of %d devices", DEVICES, DEVICES);
	CHECK(cuDeviceGet(&d, -1) == 101, "cuDeviceGet(-1)");
	CHECK(cuDeviceGetName(name, sizeof name, DEVICES - 1) == 0, "cuDeviceGetName(%d)", DEVICES - 1);
	CHECK(cuDeviceGetName(name, sizeof name, DEVICES) == 101, "cuDeviceGetName(%d)", DEVICES);
	CHECK(cuDevicePrimaryCtxRetain(&ctx, 2) == 0 && cuDevicePrimaryCtxRetain(&ctx2, 1) == 0 && ctx == ctx2,
		"two devices' primary contexts differ in a process of one context");
	CHECK(cuDevicePrimaryCtxRetain(&ctx, DEVICES) == 101, "cuDevicePrimaryCtxRetain(%d)", DEVICES);
	CHECK(cuDevicePrimaryCtxRelease_v2(2) == 0 && cuDevicePrimaryCtxRelease_v2(1) == 0, "cuDevicePrimaryCtxRelease_v2");
	CHECK(cuDevicePrimaryCtxRelease_v2(DEVICES) == 101, "cuDevicePrimaryCtxRelease_v2(%d)", DEVICES);
	CHECK(fake_set("devices", 1) == 0, "fake_set devices");
	CHECK(cuDeviceGetCount(&n) == 0 && n == 1, "cuDeviceGetCount gives %d after devices = 1", n);
	CHECK(cuDeviceGet(&d, 1) == 101, "cuDeviceGet(1) of 1 device");
	fake_reset();
	CHECK(cuDeviceGetCount(&n) == 0 && n == DEVICES, "cuDeviceGetCount gives %d after fake_reset", n);
}

/* alone: a communicator of one rank, and the arguments the stand-in
 * refuses. */
static void alone(int rank, int nranks, ncclUniqueId id)
{
	int v = 0, r;
	ncclComm_t c = NULL;
	ncclUniqueId bad;
	memset(&bad, 0, sizeof bad);
	strcpy(bad.internal, "/somebody-else");
	CHECK(ncclGetVersion(&v) == ncclSuccess && v == 22304, "ncclGetVersion gives %d", v);
	CHECK(fakenccl_get("no such counter") == -1, "fakenccl_get of an unknown name");
	CHECK(strcmp(ncclGetErrorString(ncclRemoteError), ncclGetErrorString(ncclSuccess)) != 0, "ncclGetErrorString");
	CHECK(cuInit(0) == 0, "cuInit");
	r = ncclCommInitRank(&c, 1, id, 0);
	CHECK(r == ncclUnhandledCudaError, "ncclCommInitRank without a context = %d", r);
	void *s = open_device(rank);
	CHECK((r = ncclCommInitRank(&c, 0, id, 0)) == ncclInvalidArgument, "0 ranks = %d", r);
	CHECK((r = ncclCommInitRank(&c, 2, id, 2)) == ncclInvalidArgument, "rank 2 of 2 = %d", r);
	CHECK((r = ncclCommInitRank(&c, 2, id, -1)) == ncclInvalidArgument, "rank -1 of 2 = %d", r);
	CHECK((r = ncclCommInitRank(&c, 1, bad, 0)) == ncclInvalidArgument, "a foreign ID = %d", r);
	CHECK(strlen(ncclGetLastError(NULL)) > 0, "no last error");
	c = join(1, id, 0);
	CHECK(!shm_exists(&id), "the shared object is still there once every rank joined");
	const size_t n = 1000;
	float x[1000], got[1000];
	fill(x, 5, n);
	CUdeviceptr a = alloc(n), b = alloc(n);
	CHECK(cuMemcpyHtoDAsync_v2(a, x, sizeof x, s) == 0, "cuMemcpyHtoDAsync_v2");
	CHECK(cuStreamSynchronize(s) == 0, "cuStreamSynchronize");
	CHECK((r = ncclAllReduce(host(a), host(b), n, ncclInt32, ncclSum, c, s)) == ncclInvalidArgument, "int32 = %d", r);
	CHECK((r = ncclAllReduce(host(a), host(b), n, ncclFloat32, ncclMax, c, s)) == ncclInvalidArgument, "max = %d", r);
	CHECK((r = ncclAllReduce(x, host(b), n, ncclFloat32, ncclSum, c, s)) == ncclInvalidArgument, "host send = %d", r);
	CHECK((r = ncclAllReduce(host(a), got, n, ncclFloat32, ncclSum, c, s)) == ncclInvalidArgument, "host recv = %d", r);
	CHECK((r = ncclAllReduce(host(a), host(b), n + 1, ncclFloat32, ncclSum, c, s)) == ncclInvalidArgument,
		"past the end = %d", r);
	CHECK((r = ncclAllReduce(host(a), host(a) + 1, n - 1, ncclFloat32, ncclSum, c, s)) == ncclInvalidArgument,
		"overlapping = %d", r);
	CHECK((r = ncclAllReduce(host(a), host(b), 0, ncclFloat32, ncclSum, c, s)) == ncclSuccess, "0 values = %d", r);
	CHECK(fakenccl_get("allreduces") == 0, "%ld refused all-reduces queued", fakenccl_get("allreduces"));
	CHECK(ncclAllReduce(host(a), host(b), n, ncclFloat32, ncclSum, c, s) == ncclSuccess, "ncclAllReduce");
	CHECK(cuMemcpyDtoHAsync_v2(got, b, sizeof got, s) == 0, "cuMemcpyDtoHAsync_v2");
	CHECK(first_difference(got, x, n) < 0, "the sum of one rank is not its buffer");
	CHECK(fakenccl_get("allreduces_run") == 1, "allreduces_run = %ld", fakenccl_get("allreduces_run"));
	CHECK(ncclCommDestroy(c) == ncclSuccess, "ncclCommDestroy");
	CHECK(fakenccl_get("comms") == 0, "comms = %ld", fakenccl_get("comms"));
}

/* sums: two all-reduces over 3 ranks, one of several rounds and one in
 * place, run when the host waits and equal to the sums in rank order. */
static void sums(int rank, int nranks, ncclUniqueId id)
{
	void *s = open_device(rank);
	ncclComm_t c = join(nranks, id, rank);
	int n = 0, r = -1;
	CHECK(ncclCommCount(c, &n) == ncclSuccess && n == nranks, "ncclCommCount gives %d", n);
	CHECK(ncclCommUserRank(c, &r) == ncclSuccess && r == rank, "ncclCommUserRank gives %d", r);
	CHECK(fakenccl_get("comms") == 1, "comms = %ld", fakenccl_get("comms"));
	const size_t n1 = 3 * CHUNK + 5, n2 = 1000;
	float *x1 = malloc(n1 * sizeof(float)), *x2 = malloc(n2 * sizeof(float));
	float *got1 = malloc(n1 * sizeof(float)), *got2 = malloc(n2 * sizeof(float));
	float *want1 = malloc(n1 * sizeof(float)), *want2 = malloc(n2 * sizeof(float));
	fill(x1, rank, n1);
	fill(x2, rank, n2);
	CUdeviceptr send1 = alloc(n1), recv1 = alloc(n1), buf2 = alloc(n2);
	CHECK(cuMemcpyHtoDAsync_v2(send1, x1, n1 * sizeof(float), s) == 0, "cuMemcpyHtoDAsync_v2");
	CHECK(cuMemcpyHtoDAsync_v2(buf2, x2, n2 * sizeof(float), s) == 0, "cuMemcpyHtoDAsync_v2");
	CHECK(cuMemsetD32Async(recv1, SENTINEL, n1, s) == 0, "cuMemsetD32Async");
	CHECK(cuStreamSynchronize(s) == 0, "cuStreamSynchronize");

	CHECK(ncclAllReduce(host(send1), host(recv1), n1, ncclFloat32, ncclSum, c, s) == ncclSuccess, "ncclAllReduce");
	CHECK(ncclAllReduce(host(buf2), host(buf2), n2, ncclFloat32, ncclSum, c, s) == ncclSuccess, "ncclAllReduce in place");
	/* Nothing ran yet: the device's memory is as it was. */
	CHECK(fakenccl_get("allreduces") == 2, "allreduces = %ld", fakenccl_get("allreduces"));
	CHECK(fakenccl_get("allreduces_run") == 0, "allreduces_run = %ld before the host waits",
		fakenccl_get("allreduces_run"));
	size_t written = 0;
	for (size_t i = 0; i < n1; i++) {
		unsigned u;
		memcpy(&u, &host(recv1)[i], sizeof u);
		written += u != SENTINEL;
	}
	CHECK(written == 0, "%zu values received before the host waits", written);
	CHECK(first_difference(host(buf2), x2, n2) < 0, "the in-place buffer changed before the host waits");

	CHECK(cuStreamSynchronize(s) == 0, "cuStreamSynchronize");
	CHECK(fakenccl_get("allreduces_run") == 2, "allreduces_run = %ld", fakenccl_get("allreduces_run"));
	CHECK(fakenccl_get("allreduces_failed") == 0, "allreduces_failed = %ld", fakenccl_get("allreduces_failed"));
	CHECK(fakenccl_get("values") == (long)(n1 + n2), "values = %ld", fakenccl_get("values"));
	CHECK(cuMemcpyDtoHAsync_v2(got1, recv1, n1 * sizeof(float), s) == 0, "cuMemcpyDtoHAsync_v2");
	CHECK(cuMemcpyDtoHAsync_v2(got2, buf2, n2 * sizeof(float), s) == 0, "cuMemcpyDtoHAsync_v2");
	expect(want1, nranks, n1);
	expect(want2, nranks, n2);
	long at = first_difference(got1, want1, n1);
	CHECK(at < 0, "sum %ld is %.9g, want %.9g", at, at < 0 ? 0 : got1[at], at < 0 ? 0 : want1[at]);
	at = first_difference(got2, want2, n2);
	CHECK(at < 0, "in place, sum %ld is %.9g, want %.9g", at, at < 0 ? 0 : got2[at], at < 0 ? 0 : want2[at]);
	CHECK(first_difference(host(send1), x1, n1) < 0, "the send buffer changed");
	/* The sums in reverse rank order differ, so the check above can tell. */
	size_t differ = 0;
	for (size_t i = 0; i < n1; i++) {
		float rev = value(nranks - 1, i);
		for (int q = nranks - 2; q >= 0; q--) {
			rev += value(q, i);
		}
		differ += memcmp(&rev, &want1[i], sizeof rev) != 0;
	}
	CHECK(differ > n1 / 100, "only %zu of %zu sums depend on the order", differ, n1);

	CHECK(ncclCommDestroy(c) == ncclSuccess, "ncclCommDestroy");
	CHECK(fakenccl_get("comms") == 0, "comms = %ld", fakenccl_get("comms"));
}

/* flush: ncclCommDestroy runs the collectives still queued. */
static void flush(int rank, int nranks, ncclUniqueId id)
{
	void *s = open_device(rank);
	ncclComm_t c = join(nranks, id, rank);
	const size_t n = 7;
	float x[7], want[7];
	fill(x, rank, n);
	expect(want, nranks, n);
	CUdeviceptr a = alloc(n);
	CHECK(cuMemcpyHtoDAsync_v2(a, x, sizeof x, s) == 0, "cuMemcpyHtoDAsync_v2");
	CHECK(ncclAllReduce(host(a), host(a), n, ncclFloat32, ncclSum, c, s) == ncclSuccess, "ncclAllReduce");
	CHECK(fakenccl_get("allreduces_run") == 0, "allreduces_run = %ld", fakenccl_get("allreduces_run"));
	CHECK(ncclCommDestroy(c) == ncclSuccess, "ncclCommDestroy");
	CHECK(fakenccl_get("allreduces_run") == 1, "allreduces_run = %ld after destroy", fakenccl_get("allreduces_run"));
	CHECK(first_difference(host(a), want, n) < 0, "the sum is wrong after destroy");
}

struct aborter {
	ncclComm_t c;
	int result;
};

static void *abort_later(void *p)
{
	struct aborter *a = p;
	sleep_s(0.3);
	a->result = ncclCommAbort(a->c);
	return NULL;
}

/* aborts: rank 2 never takes part in the collective of ranks 0 and 1;
 * rank 0 aborts from another thread while its host waits in it. */
static void aborts(int rank, int nranks, ncclUniqueId id)
{
	void *s = open_device(rank);
	ncclComm_t c = join(nranks, id, rank);
	const size_t n = 100;
	CUdeviceptr a = alloc(n);
	CHECK(cuMemsetD32Async(a, 0, n, s) == 0, "cuMemsetD32Async");
	int e = 0;
	if (rank == 0) {
		struct aborter ab = {c, -1};
		pthread_t t;
		CHECK(ncclAllReduce(host(a), host(a), n, ncclFloat32, ncclSum, c, s) == ncclSuccess, "ncclAllReduce");
		pthread_create(&t, NULL, abort_later, &ab);
		sync_failing(s, "aborted here");
		pthread_join(t, NULL);
		CHECK(ab.result == ncclSuccess, "ncclCommAbort = %d", ab.result);
		CHECK(fakenccl_get("aborts") == 1, "aborts = %ld", fakenccl_get("aborts"));
		CHECK(fakenccl_get("comms") == 0, "comms = %ld", fakenccl_get("comms"));
	} else if (rank == 1) {
		CHECK(ncclAllReduce(host(a), host(a), n, ncclFloat32, ncclSum, c, s) == ncclSuccess, "ncclAllReduce");
		sync_failing(s, "aborted by rank 0");
		CHECK(ncclCommGetAsyncError(c, &e) == ncclSuccess && e == ncclRemoteError, "async error %d", e);
		CHECK(ncclAllReduce(host(a), host(a), n, ncclFloat32, ncclSum, c, s) == ncclRemoteError,
			"an all-reduce of an aborted communicator is queued");
		CHECK(ncclCommAbort(c) == ncclSuccess, "ncclCommAbort");
	} else {
		CHECK((e = wait_async(c)) == ncclRemoteError, "async error %d", e);
		CHECK(cuStreamSynchronize(s) == 0, "cuStreamSynchronize of a rank without collectives");
		CHECK(ncclCommDestroy(c) == ncclSuccess, "ncclCommDestroy");
	}
	CHECK(fakenccl_get("allreduces_run") == 0, "allreduces_run = %ld", fakenccl_get("allreduces_run"));
	CHECK(fakenccl_get("allreduces_failed") == (rank < 2), "allreduces_failed = %ld", fakenccl_get("allreduces_failed"));
}

static void *abort_soon(void *p)
{
	struct aborter *a = p;
	sleep_s(0.01);
	a->result = ncclCommAbort(a->c);
	return NULL;
}

/* abort_race: another thread aborts while this one queues all-reduces;
 * each call is queued or refused. The queued ones run when the host waits,
 * after the abort: the first fails and faults the device, which drops the
 * others. */
static void abort_race(int rank, int nranks, ncclUniqueId id)
{
	void *s = open_device(rank);
	ncclComm_t c = join(nranks, id, rank);
	CUdeviceptr a = alloc(10);
	struct aborter ab = {c, -1};
	pthread_t t;
	int r = ncclSuccess;
	long calls = 0;
	pthread_create(&t, NULL, abort_soon, &ab);
	while (r == ncclSuccess && calls < 10000000) {
		r = ncclAllReduce(host(a), host(a), 10, ncclFloat32, ncclSum, c, s);
		calls++;
	}
	pthread_join(t, NULL);
	CHECK(ab.result == ncclSuccess, "ncclCommAbort = %d", ab.result);
	CHECK(r == ncclInvalidUsage || r == ncclRemoteError, "ncclAllReduce after the abort = %d", r);
	CHECK(fakenccl_get("allreduces") == calls - 1, "allreduces = %ld of %ld calls", fakenccl_get("allreduces"), calls);
	CHECK(calls > 1, "no all-reduce queued before the abort");
	sync_failing(s, "aborted while queuing");
	CHECK(fakenccl_get("allreduces_run") == 0 && fakenccl_get("allreduces_failed") == 1,
		"of %ld all-reduces, %ld ran and %ld failed", calls - 1, fakenccl_get("allreduces_run"),
		fakenccl_get("allreduces_failed"));
}

/* mismatch: the ranks' collectives differ in count. */
static void mismatch(int rank, int nranks, ncclUniqueId id)
{
	void *s = open_device(rank);
	ncclComm_t c = join(nranks, id, rank);
	CUdeviceptr a = alloc(11);
	int e = 0;
	CHECK(ncclAllReduce(host(a), host(a), 10 + rank, ncclFloat32, ncclSum, c, s) == ncclSuccess, "ncclAllReduce");
	sync_failing(s, "counts differ");
	CHECK(ncclCommGetAsyncError(c, &e) == ncclSuccess && e == ncclInvalidUsage, "async error %d", e);
	CHECK(ncclCommDestroy(c) == ncclSuccess, "ncclCommDestroy");
}

/* timeouts: with FAKE_NCCL_TIMEOUT=0.5 on rank 0, rank 0 alone gives up
 * joining a communicator of 2, and its collective that rank 1 never starts
 * fails; rank 1 waits for it with the default time limits. */
static void timeouts(int rank, int nranks, ncclUniqueId id)
{
	void *s = open_device(rank);
	ncclComm_t c = NULL;
	if (rank == 0) {
		setenv("FAKE_NCCL_TIMEOUT", "0.5", 1);
		ncclUniqueId lonely;
		CHECK(ncclGetUniqueId(&lonely) == ncclSuccess, "ncclGetUniqueId");
		double t0 = now();
		int r = ncclCommInitRank(&c, 2, lonely, 0);
		double t = now() - t0;
		CHECK(r == ncclSystemError, "ncclCommInitRank alone = %d", r);
		CHECK(t >= 0.4 && t < 10, "ncclCommInitRank gave up after %.2f s", t);
		CHECK(!shm_exists(&lonely), "a communicator nobody joined left its shared object");
	}
	c = join(nranks, id, rank);
	if (rank == 0) {
		CUdeviceptr a = alloc(5);
		int e = 0;
		CHECK(ncclAllReduce(host(a), host(a), 5, ncclFloat32, ncclSum, c, s) == ncclSuccess, "ncclAllReduce");
		sync_failing(s, "timed out");
		CHECK(ncclCommGetAsyncError(c, &e) == ncclSuccess && e == ncclRemoteError, "async error %d", e);
	} else {
		int e = wait_async(c);
		CHECK(e == ncclRemoteError, "async error %d", e);
	}
	CHECK(ncclCommDestroy(c) == ncclSuccess, "ncclCommDestroy");
}

/* run forks nranks processes that each run scenario f as one rank of a
 * communicator of a new unique ID; children still running after 60 s are
 * killed. It returns whether every rank passed. */
static int run(const char *name, void (*f)(int, int, ncclUniqueId), int nranks)
{
	ncclUniqueId id;
	if (ncclGetUniqueId(&id) != ncclSuccess) {
		fprintf(stderr, "FAIL %s: ncclGetUniqueId\n", name);
		return 0;
	}
	pid_t pids[8];
	for (int r = 0; r < nranks; r++) {
		fflush(NULL);
		pids[r] = fork();
		if (pids[r] == 0) {
			me = r;
			f(r, nranks, id);
			fflush(NULL);
			_exit(failures ? 1 : 0);
		}
	}
	int ok = 1, left = nranks;
	double end = now() + 60;
	while (left > 0) {
		int status;
		pid_t p = waitpid(-1, &status, WNOHANG);
		if (p > 0) {
			left--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr, "%s: a rank %s %d\n", name, WIFEXITED(status) ? "exited with" : "died of signal",
					WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
				ok = 0;
			}
		} else if (now() > end) {
			fprintf(stderr, "%s: ranks still running after 60 s; killing them\n", name);
			for (int r = 0; r < nranks; r++) {
				kill(pids[r], SIGKILL);
			}
			end = now() + 3600;
			ok = 0;
		} else {
			sleep_s(0.01);
		}
	}
	if (shm_exists(&id)) {
		fprintf(stderr, "%s: the shared object %s is left behind\n", name, id.internal);
		shm_unlink(id.internal);
		ok = 0;
	}
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	return ok;
}

int main(int argc, char **argv)
{
	const char *devs = getenv("FAKE_CUDA_DEVICES");
	if (!devs || atoi(devs) != DEVICES) {
		char n[8];
		snprintf(n, sizeof n, "%d", DEVICES);
		setenv("FAKE_CUDA_DEVICES", n, 1);
		execv("/proc/self/exe", argv);
		perror("execv /proc/self/exe");
		return 2;
	}
	unsetenv("FAKE_NCCL_TIMEOUT");
	int ok = 1;
	ok &= run("devices", devices, 1);
	ok &= run("alone", alone, 1);
	ok &= run("sums", sums, 3);
	ok &= run("flush", flush, 2);
	ok &= run("aborts", aborts, 3);
	ok &= run("abort race", abort_race, 1);
	ok &= run("mismatch", mismatch, 2);
	ok &= run("timeouts", timeouts, 2);
	printf("%s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
