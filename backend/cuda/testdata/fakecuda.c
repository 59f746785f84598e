/*
 * A fake CUDA driver and cuBLAS for testing the CUDA backend on machines
 * without a GPU. Device memory is host memory; the one stream queues its
 * work and runs it at cuStreamSynchronize, so a host that reads results or
 * reuses staging memory before synchronising gets wrong data, as on a GPU.
 * Every call that needs a context fails unless the calling thread has made
 * one current. Kernel parameter sizes come from the PTX image, as the real
 * driver takes them; the kernels themselves are serial C versions of the
 * shared kernels.
 *
 * Test hooks: cuDeviceGetAttribute with attribute FAKE_* returns counters
 * of live resources; cuMemAlloc_v2 of FAKE_ODD_BYTES fails with a code the
 * backend's table does not name.
 *
 * Build: cc -shared -fPIC -O2 -o libfakecuda.so fakecuda.c -lm -lpthread
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
	FAKE_LIVE_DEVICE = 1000001,
	FAKE_LIVE_HOST = 1000002,
	FAKE_CONTEXT_REFS = 1000003,
	FAKE_LIVE_STREAMS = 1000004,
	FAKE_LIVE_HANDLES = 1000005,
	FAKE_LIVE_MODULES = 1000006,
	FAKE_NO_CONTEXT_CALLS = 1000007,
	FAKE_LAUNCHES = 1000008,
	FAKE_GEMMS = 1000009,
};
#define FAKE_ODD_BYTES 0x7e5700000000ULL
#define FAKE_ODD_CODE 12345

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static __thread void *current;
static int context_token;
static int initialised, context_refs, live_streams, live_handles, live_modules;
static int no_context_calls, launches, gemms;
static CUresult pending_error;

/* Allocations, device and host. */
struct alloc {
	char *base;
	size_t bytes;
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

/* inside reports whether [p, p+bytes) lies in one live device allocation. */
static int inside(const void *p, size_t bytes)
{
	const char *c = p;
	for (struct alloc *a = allocs; a; a = a->next) {
		if (!a->host && c >= a->base && c + bytes <= a->base + a->bytes) {
			return 1;
		}
	}
	return 0;
}

static int have_context(void)
{
	if (current != &context_token) {
		no_context_calls++;
		return 0;
	}
	return 1;
}
#define NEED_CONTEXT() \
	do { \
		if (!have_context()) { \
			return 201; \
		} \
	} while (0)

/* The stream: a queue of operations run at synchronisation. */
enum { OP_MEMSET, OP_COPY, OP_KERNEL, OP_GEMM };
struct kernel;
struct op {
	int kind;
	/* memset and copies */
	void *dst;
	const void *src;
	size_t bytes;
	unsigned value;
	/* kernels */
	const struct kernel *k;
	uint64_t *args;
	unsigned grid[3], block[3];
	/* GEMMs: column-major, as cuBLAS */
	int ta, tb, m, n, kk, lda, ldb, ldc, batch;
	long long sa, sb, sc;
	float alpha, beta;
	const float *a, *b;
	float *c;
	struct op *next;
};
static struct op *head, **tail = &head;

static void enqueue(struct op *o)
{
	o->next = NULL;
	*tail = o;
	tail = &o->next;
}

/* Kernels. */
typedef void (*kernel_fn)(const struct op *o);
struct kernel {
	char name[48];
	kernel_fn run;
	int nparams;
	int sizes[32];
};

#define I(i) ((int)(int32_t)(uint32_t)o->args[i])
#define F(i) (f32(o->args[i]))
#define P(i, T) ((T *)(uintptr_t)o->args[i] + I((i) + 1))

static float f32(uint64_t v)
{
	uint32_t u = (uint32_t)v;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static void k_axpy(const struct op *o)
{
	int n = I(0);
	float a = F(1), *y = P(2, float), *x = P(4, float);
	for (int i = 0; i < n; i++) {
		y[i] += a * x[i];
	}
}

static void k_scale(const struct op *o)
{
	int n = I(0);
	float a = F(1), *x = P(2, float);
	for (int i = 0; i < n; i++) {
		x[i] *= a;
	}
}

static void k_copy(const struct op *o)
{
	int n = I(0);
	float *d = P(1, float), *s = P(3, float);
	for (int i = 0; i < n; i++) {
		d[i] = s[i];
	}
}

static void k_fill(const struct op *o)
{
	int rows = I(0), cols = I(1), stride = I(5);
	float v = F(2), *x = P(3, float);
	for (int r = 0; r < rows; r++) {
		for (int j = 0; j < cols; j++) {
			x[r * stride + j] = v;
		}
	}
}

static void k_gather_rows(const struct op *o)
{
	int rows = I(0), cols = I(1), src_rows = I(2), ds = I(5), ss = I(8);
	float *d = P(3, float), *s = P(6, float);
	int *idx = P(9, int), *status = P(11, int);
	for (int r = 0; r < rows; r++) {
		int from = idx[r];
		if (from < 0 || from >= src_rows) {
			*status = 1;
			continue;
		}
		for (int j = 0; j < cols; j++) {
			d[r * ds + j] = s[from * ss + j];
		}
	}
}

static float activate(float v, int act)
{
	if (act == 1) {
		return v > 0 ? v : 0;
	}
	if (act == 2) {
		return tanhf(v);
	}
	return v;
}

static void k_bias_act(const struct op *o)
{
	int rows = I(0), cols = I(1), act = I(2), has_bias = I(3), st = I(6);
	float *m = P(4, float), *bias = P(7, float);
	for (int r = 0; r < rows; r++) {
		for (int j = 0; j < cols; j++) {
			float v = m[r * st + j];
			if (has_bias) {
				v += bias[j];
			}
			m[r * st + j] = activate(v, act);
		}
	}
}

static void k_act_grad(const struct op *o)
{
	int rows = I(0), cols = I(1), act = I(2), gs = I(5), os = I(8);
	float *g = P(3, float), *out = P(6, float);
	for (int r = 0; r < rows; r++) {
		for (int j = 0; j < cols; j++) {
			float y = out[r * os + j];
			if (act == 1 && !(y > 0)) {
				g[r * gs + j] = 0;
			} else if (act == 2) {
				g[r * gs + j] *= 1 - y * y;
			}
		}
	}
}

/* col_sum_blocks: group (x, y) sums block y of the rows; the fake splits
 * the rows evenly over the blocks of the launch, which changes only the
 * rounding. */
static void k_col_sum_blocks(const struct op *o)
{
	int rows = I(0), cols = I(1), st = I(6), blocks = o->grid[1];
	float *partial = P(2, float), *m = P(4, float);
	int per = (rows + blocks - 1) / blocks;
	for (int b = 0; b < blocks; b++) {
		for (int j = 0; j < cols; j++) {
			float s = 0;
			for (int r = b * per; r < rows && r < (b + 1) * per; r++) {
				s += m[r * st + j];
			}
			partial[b * cols + j] = s;
		}
	}
}

static void k_col_sum(const struct op *o)
{
	int blocks = I(0), cols = I(1);
	float alpha = F(2), beta = F(3), *dst = P(4, float), *partial = P(6, float);
	for (int j = 0; j < cols; j++) {
		float s = 0;
		for (int b = 0; b < blocks; b++) {
			s += partial[b * cols + j];
		}
		float v = alpha * s;
		if (beta != 0) {
			v += beta * dst[j];
		}
		dst[j] = v;
	}
}

/* sum_squares: each of grid×block threads sums a strided share; each
 * group writes its total. */
static void k_sum_squares(const struct op *o)
{
	int n = I(0), groups = o->grid[0], local = o->block[0];
	float *partial = P(1, float), *x = P(3, float);
	for (int g = 0; g < groups; g++) {
		double s = 0;
		for (int t = g * local; t < (g + 1) * local; t++) {
			for (int i = t; i < n; i += groups * local) {
				s += (double)x[i] * x[i];
			}
		}
		partial[g] = (float)s;
	}
}

static void k_sum_partials(const struct op *o)
{
	int n = I(0);
	float *dst = P(1, float), *partial = P(3, float);
	double s = 0;
	for (int i = 0; i < n; i++) {
		s += partial[i];
	}
	*dst = (float)s;
}

static double softplus(double x) { return fmax(x, 0) + log1p(exp(-fabs(x))); }
static double sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }

static void k_loss_grad(const struct op *o)
{
	int rows = I(0), zs = I(3), ys = I(6), gs = I(15);
	float *z = P(1, float), *y = P(4, float), *pos = P(9, float), *w = P(11, float);
	float *grad = P(13, float), *sums = P(16, float);
	int *tasks = P(7, int);
	for (unsigned t = 0; t < o->grid[0]; t++) {
		int *task = tasks + 8 * t;
		int kind = task[0], col = task[1], k = task[2], dev_col = task[3], groups = task[4];
		int label_col = task[5], mask_col = task[6], group_col = task[7];
		double count = 0, loss_sum = 0, mask_sum = 0;
		for (int i = 0; i < rows; i++) {
			count += y[i * ys + mask_col];
		}
		double scale = count > 0 ? w[t] / count : 0;
		for (int i = 0; i < rows; i++) {
			float *yi = y + i * ys, *zi = z + i * zs, *gi = grad + i * gs;
			double mask = yi[mask_col], label = yi[label_col], loss, s = scale * mask;
			if (mask == 0) {
				continue;
			}
			int dev = -1;
			if (groups > 0) {
				int g = (int)yi[group_col];
				if (g >= 0 && g < groups) {
					dev = dev_col + g * k;
				}
			}
#define LOGIT(j) ((double)zi[col + (j)] + (dev >= 0 ? zi[dev + (j)] : 0))
#define PUT(j, d) \
	do { \
		gi[col + (j)] = (float)(s * (d)); \
		if (dev >= 0) { \
			gi[dev + (j)] = (float)(s * (d)); \
		} \
	} while (0)
			if (kind == 0) {
				if (!(label >= 0) || label >= k) {
					continue;
				}
				int c = (int)label;
				double zmax = LOGIT(0), total = 0;
				for (int j = 1; j < k; j++) {
					zmax = fmax(zmax, LOGIT(j));
				}
				for (int j = 0; j < k; j++) {
					total += exp(LOGIT(j) - zmax);
				}
				for (int j = 0; j < k; j++) {
					PUT(j, exp(LOGIT(j) - zmax) / total - (j == c));
				}
				loss = log(total) - (LOGIT(c) - zmax);
			} else if (kind == 1) {
				double x = LOGIT(0), pw = pos[t];
				loss = pw * label * softplus(-x) + (1 - label) * softplus(x);
				PUT(0, (pw * label + 1 - label) * sigmoid(x) - pw * label);
			} else {
				double d = LOGIT(0) - label;
				loss = d * d;
				PUT(0, 2 * d);
			}
			loss_sum += mask * loss;
			mask_sum += mask;
		}
		sums[2 * t] = (float)loss_sum;
		sums[2 * t + 1] = (float)mask_sum;
	}
}

static float clip_factor(const float *norm_sq, float max_norm)
{
	if (max_norm == 0) {
		return 1;
	}
	float norm = sqrtf(*norm_sq);
	return norm > max_norm ? max_norm / norm : 1;
}

static void k_sgd_step(const struct op *o)
{
	int n = I(0), nesterov = I(4);
	float lr = F(1), mom = F(2), wd = F(3), max_norm = F(5);
	float *p = P(6, float), *g = P(8, float), *v = P(10, float), *ns = P(12, float);
	float s = clip_factor(ns, max_norm);
	for (int i = 0; i < n; i++) {
		float gi = s * g[i] + wd * p[i];
		if (mom != 0) {
			v[i] = mom * v[i] + gi;
			gi = nesterov ? gi + mom * v[i] : v[i];
		}
		p[i] -= lr * gi;
	}
}

static void k_adam_step(const struct op *o)
{
	int n = I(0), decoupled = I(6);
	float lr = F(1), b1 = F(2), b2 = F(3), eps = F(4), wd = F(5), c1 = F(7), c2 = F(8), max_norm = F(9);
	float *p = P(10, float), *g = P(12, float), *m = P(14, float), *v = P(16, float), *ns = P(18, float);
	float s = clip_factor(ns, max_norm);
	for (int i = 0; i < n; i++) {
		float gi = s * g[i];
		if (decoupled) {
			p[i] -= lr * wd * p[i];
		} else {
			gi += wd * p[i];
		}
		m[i] = b1 * m[i] + (1 - b1) * gi;
		v[i] = b2 * v[i] + (1 - b2) * gi * gi;
		p[i] -= lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
	}
}

/* The kernels the fake can run, by name. */
static const struct {
	const char *name;
	kernel_fn run;
} implementations[] = {
	{"axpy", k_axpy}, {"scale", k_scale}, {"copy", k_copy}, {"fill", k_fill},
	{"gather_rows", k_gather_rows}, {"bias_act", k_bias_act}, {"act_grad", k_act_grad},
	{"col_sum_blocks", k_col_sum_blocks}, {"col_sum", k_col_sum},
	{"sum_squares", k_sum_squares}, {"sum_partials", k_sum_partials},
	{"loss_grad", k_loss_grad}, {"sgd_step", k_sgd_step}, {"adam_step", k_adam_step},
};

/* The kernels of the loaded module, as its PTX declares them; launching
 * one the fake cannot run fails. */
#define MAXKERNELS 64
static struct kernel kernels[MAXKERNELS];
static int nkernels;

static void run_gemm(const struct op *o)
{
	for (int z = 0; z < o->batch; z++) {
		const float *a = o->a + z * o->sa, *b = o->b + z * o->sb;
		float *c = o->c + z * o->sc;
		for (int i = 0; i < o->m; i++) {
			for (int j = 0; j < o->n; j++) {
				double s = 0;
				for (int l = 0; l < o->kk; l++) {
					double x = o->ta ? a[l + i * o->lda] : a[i + l * o->lda];
					double y = o->tb ? b[j + l * o->ldb] : b[l + j * o->ldb];
					s += x * y;
				}
				float *cij = &c[i + j * o->ldc];
				*cij = o->beta == 0 ? (float)(o->alpha * s) : (float)(o->alpha * s + o->beta * *cij);
			}
		}
	}
}

static void run_queue(void)
{
	while (head) {
		struct op *o = head;
		head = o->next;
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
			o->k->run(o);
			free(o->args);
			break;
		case OP_GEMM:
			run_gemm(o);
			break;
		}
		free(o);
	}
	tail = &head;
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
	*v = 12040;
	return 0;
}

CUresult cuDeviceGetCount(int *n)
{
	if (!initialised) {
		return 3;
	}
	*n = 1;
	return 0;
}

CUresult cuDeviceGet(int *dev, int ordinal)
{
	if (!initialised) {
		return 3;
	}
	if (ordinal != 0) {
		return 101;
	}
	*dev = 0;
	return 0;
}

CUresult cuDeviceGetName(char *name, int len, int dev)
{
	if (dev != 0 || len < 9) {
		return 1;
	}
	strcpy(name, "Fake GPU");
	return 0;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, int dev)
{
	if (dev != 0) {
		return 101;
	}
	*bytes = (size_t)16 << 30;
	return 0;
}

CUresult cuDeviceGetAttribute(int *v, int attr, int dev)
{
	if (dev != 0) {
		return 101;
	}
	pthread_mutex_lock(&mu);
	switch (attr) {
	case 1: *v = 1024; break;
	case 16: *v = 4; break;
	case 75: *v = 7; break;
	case 76: *v = 0; break;
	case FAKE_LIVE_DEVICE: *v = count_allocs(0); break;
	case FAKE_LIVE_HOST: *v = count_allocs(1); break;
	case FAKE_CONTEXT_REFS: *v = context_refs; break;
	case FAKE_LIVE_STREAMS: *v = live_streams; break;
	case FAKE_LIVE_HANDLES: *v = live_handles; break;
	case FAKE_LIVE_MODULES: *v = live_modules; break;
	case FAKE_NO_CONTEXT_CALLS: *v = no_context_calls; break;
	case FAKE_LAUNCHES: *v = launches; break;
	case FAKE_GEMMS: *v = gemms; break;
	default:
		pthread_mutex_unlock(&mu);
		return 1;
	}
	pthread_mutex_unlock(&mu);
	return 0;
}

CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev)
{
	if (dev != 0) {
		return 101;
	}
	pthread_mutex_lock(&mu);
	context_refs++;
	pthread_mutex_unlock(&mu);
	*ctx = &context_token;
	return 0;
}

CUresult cuDevicePrimaryCtxRelease_v2(int dev)
{
	pthread_mutex_lock(&mu);
	CUresult r = context_refs > 0 ? 0 : 201;
	if (r == 0) {
		context_refs--;
	}
	pthread_mutex_unlock(&mu);
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
	NEED_CONTEXT();
	static int stream_token;
	live_streams++;
	*s = &stream_token;
	return 0;
}

CUresult cuStreamDestroy_v2(void *s)
{
	NEED_CONTEXT();
	live_streams--;
	return 0;
}

CUresult cuStreamSynchronize(void *s)
{
	NEED_CONTEXT();
	run_queue();
	CUresult r = pending_error;
	pending_error = 0;
	return r;
}

static CUresult add_alloc(void **p, size_t bytes, int host)
{
	struct alloc *a = calloc(1, sizeof *a);
	a->base = malloc(bytes ? bytes : 1);
	if (!a->base) {
		free(a);
		return 2;
	}
	memset(a->base, 0x5a, bytes); /* device memory is not zeroed */
	a->bytes = bytes;
	a->host = host;
	pthread_mutex_lock(&mu);
	a->next = allocs;
	allocs = a;
	pthread_mutex_unlock(&mu);
	*p = a->base;
	return 0;
}

static CUresult remove_alloc(void *p, int host)
{
	pthread_mutex_lock(&mu);
	for (struct alloc **ap = &allocs; *ap; ap = &(*ap)->next) {
		struct alloc *a = *ap;
		if (a->base == p && a->host == host) {
			*ap = a->next;
			pthread_mutex_unlock(&mu);
			free(a->base);
			free(a);
			return 0;
		}
	}
	pthread_mutex_unlock(&mu);
	return 1;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes)
{
	NEED_CONTEXT();
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
	CUresult r = add_alloc(&h, bytes, 0);
	*p = (CUdeviceptr)(uintptr_t)h;
	return r;
}

CUresult cuMemFree_v2(CUdeviceptr p)
{
	NEED_CONTEXT();
	return remove_alloc((void *)(uintptr_t)p, 0);
}

CUresult cuMemHostAlloc(void **p, size_t bytes, unsigned flags)
{
	NEED_CONTEXT();
	return add_alloc(p, bytes, 1);
}

CUresult cuMemFreeHost(void *p)
{
	NEED_CONTEXT();
	return remove_alloc(p, 1);
}

CUresult cuMemsetD32Async(CUdeviceptr p, unsigned value, size_t n, void *s)
{
	NEED_CONTEXT();
	if (!inside((void *)(uintptr_t)p, 4 * n)) {
		return 1;
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_MEMSET;
	o->dst = (void *)(uintptr_t)p;
	o->bytes = 4 * n;
	o->value = value;
	enqueue(o);
	return 0;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *s)
{
	NEED_CONTEXT();
	if (!inside((void *)(uintptr_t)dst, bytes)) {
		return 1;
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_COPY;
	o->dst = (void *)(uintptr_t)dst;
	o->src = src;
	o->bytes = bytes;
	enqueue(o);
	return 0;
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *s)
{
	NEED_CONTEXT();
	if (!inside((void *)(uintptr_t)src, bytes)) {
		return 1;
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_COPY;
	o->dst = dst;
	o->src = (void *)(uintptr_t)src;
	o->bytes = bytes;
	enqueue(o);
	return 0;
}

/* Modules: the parameter sizes of each .entry of the PTX. */
CUresult cuModuleLoadDataEx(void **m, const void *image, unsigned nopt, int *options, void **values)
{
	NEED_CONTEXT();
	const char *ptx = image;
	size_t len = strlen(ptx);
	if (len < 100 || !strstr(ptx, ".version") || !strstr(ptx, ".target sm_")) {
		return 218;
	}
	for (unsigned i = 0; i < nopt; i++) {
		if (options[i] == 6 && (uintptr_t)values[i] < 64) {
			return 1; /* the log size is the value itself */
		}
	}
	nkernels = 0;
	for (const char *at = strstr(ptx, ".entry "); at && nkernels < MAXKERNELS; at = strstr(at + 1, ".entry ")) {
		struct kernel *k = &kernels[nkernels++];
		const char *name = at + 7, *open = strchr(name, '(');
		if (!open || open - name >= (long)sizeof k->name) {
			return 218;
		}
		memset(k, 0, sizeof *k);
		memcpy(k->name, name, open - name);
		for (size_t i = 0; i < sizeof implementations / sizeof implementations[0]; i++) {
			if (strcmp(implementations[i].name, k->name) == 0) {
				k->run = implementations[i].run;
			}
		}
		const char *end = strchr(open, ')');
		for (const char *p = strstr(open, ".param "); p && p < end && k->nparams < 32; p = strstr(p + 1, ".param ")) {
			k->sizes[k->nparams++] = strncmp(p + 7, ".u64", 4) == 0 || strncmp(p + 7, ".b64", 4) == 0 ? 8 : 4;
		}
	}
	live_modules++;
	static int module_token;
	*m = &module_token;
	return 0;
}

CUresult cuModuleUnload(void *m)
{
	NEED_CONTEXT();
	live_modules--;
	return 0;
}

CUresult cuModuleGetFunction(void **f, void *m, const char *name)
{
	NEED_CONTEXT();
	for (int i = 0; i < nkernels; i++) {
		if (strcmp(kernels[i].name, name) == 0) {
			*f = &kernels[i];
			return 0;
		}
	}
	return 500;
}

CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
	unsigned shared, void *s, void **params, void **extra)
{
	NEED_CONTEXT();
	const struct kernel *k = f;
	if (k < kernels || k >= kernels + nkernels || !k->run) {
		return 400;
	}
	if (!gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024 || gy > 65535 || gz > 65535 || extra) {
		return 1;
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_KERNEL;
	o->k = k;
	o->args = calloc(k->nparams, sizeof(uint64_t));
	for (int i = 0; i < k->nparams; i++) {
		memcpy(&o->args[i], params[i], k->sizes[i]);
		/* A pointer must point into device memory (or be null). */
		if (k->sizes[i] == 8 && o->args[i] && !inside((void *)(uintptr_t)o->args[i], 0)) {
			pending_error = 700;
			free(o->args);
			free(o);
			return 0;
		}
	}
	o->grid[0] = gx, o->grid[1] = gy, o->grid[2] = gz;
	o->block[0] = bx, o->block[1] = by, o->block[2] = bz;
	launches++;
	enqueue(o);
	return 0;
}

CUresult cuGetErrorName(CUresult r, const char **s)
{
	switch (r) {
	case 0: *s = "CUDA_SUCCESS"; return 0;
	case 700: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; return 0;
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
	case FAKE_ODD_CODE: *s = "a fake error"; return 0;
	}
	*s = NULL;
	return 1;
}

/* cuBLAS. */
static int handle_token, math_mode;

int cublasCreate_v2(void **h)
{
	if (!have_context()) {
		return 1;
	}
	live_handles++;
	*h = &handle_token;
	return 0;
}

int cublasDestroy_v2(void *h)
{
	if (h != &handle_token || !have_context()) {
		return 1;
	}
	live_handles--;
	return 0;
}

int cublasGetVersion_v2(void *h, int *v)
{
	*v = 120401;
	return 0;
}

int cublasSetStream_v2(void *h, void *s) { return h == &handle_token ? 0 : 1; }
int cublasSetMathMode(void *h, int mode) { math_mode = mode; return mode == 0 || mode == 3 ? 0 : 7; }
int cublasSetPointerMode_v2(void *h, int mode) { return mode == 0 ? 0 : 7; }

const char *cublasGetStatusString(int s) { return s == 7 ? "an invalid numeric value was used as an argument" : "other"; }

int cublasSgemmStridedBatched(void *h, int ta, int tb, int m, int n, int k, const float *alpha,
	const float *a, int lda, long long sa, const float *b, int ldb, long long sb,
	const float *beta, float *c, int ldc, long long sc, int batch)
{
	if (h != &handle_token || !have_context()) {
		return 1;
	}
	int rows_a = ta ? k : m, rows_b = tb ? n : k;
	if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || m < 0 || n < 0 || k < 0 || batch < 0 ||
		lda < (rows_a > 1 ? rows_a : 1) || ldb < (rows_b > 1 ? rows_b : 1) || ldc < (m > 1 ? m : 1)) {
		return 7;
	}
	/* The matrices must lie in device memory, or the device faults. */
	if (m > 0 && n > 0 && batch > 0) {
		size_t ea = (size_t)((ta ? m : k) - 1) * lda + (ta ? k : m);
		size_t eb = (size_t)((tb ? k : n) - 1) * ldb + (tb ? n : k);
		size_t ec = (size_t)(n - 1) * ldc + m;
		if (k > 0 && (!inside(a, 4 * ((batch - 1) * sa + ea)) || !inside(b, 4 * ((batch - 1) * sb + eb)))) {
			pending_error = 700;
			return 0;
		}
		if (!inside(c, 4 * ((batch - 1) * sc + ec))) {
			pending_error = 700;
			return 0;
		}
	}
	struct op *o = calloc(1, sizeof *o);
	o->kind = OP_GEMM;
	o->ta = ta, o->tb = tb, o->m = m, o->n = n, o->kk = k;
	o->lda = lda, o->ldb = ldb, o->ldc = ldc, o->batch = batch;
	o->sa = sa, o->sb = sb, o->sc = sc;
	/* Host pointer mode: the scalars are read now. */
	o->alpha = *alpha, o->beta = *beta;
	o->a = a, o->b = b, o->c = c;
	gemms++;
	enqueue(o);
	return 0;
}

int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
	const float *b, int ldb, const float *beta, float *c, int ldc)
{
	return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}
