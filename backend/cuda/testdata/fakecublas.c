/*
 * A stand-in for cuBLAS, for testing the CUDA backend on machines without a
 * GPU, on top of the stand-in driver (fakecuda.c), which it is linked with:
 * its handle needs the driver's current context, its products run on the
 * driver's stream in order with the kernels, and one that reaches memory
 * outside the device's allocations when it runs faults the device.
 * Products are computed column-major in double, as the reference cuBLAS
 * documents them.
 *
 * Built once per major version (FAKE_CUBLAS_MAJOR, 12 by default):
 * cublasCreate_v2 fails with CUBLAS_STATUS_NOT_INITIALIZED, as a real
 * cuBLAS does, when the driver's CUDA version is older than the major
 * version, and when the driver's setting cublas_create_fails names it.
 *
 * Build: cc -shared -fPIC -O2 -DFAKE_CUBLAS_MAJOR=12 -o libcublas.so.12 fakecublas.c \
 *            -L. -lfakecuda -Wl,-rpath,'$ORIGIN'
 */
#include <stdlib.h>
#include <string.h>

#ifndef FAKE_CUBLAS_MAJOR
#define FAKE_CUBLAS_MAJOR 12
#endif

/* From fakecuda.c. */
long long fake_get(const char *name);
int fake_add(const char *name, long long delta);
int fake_sticky(void);
int fake_have_context(void);
int fake_device_memory(const void *p, size_t bytes);
void fake_enqueue_host(int (*fn)(void *), void *data);

static int handle_token, math_mode;

int cublasCreate_v2(void **h)
{
	if (!fake_have_context() || fake_sticky()) {
		return 1;
	}
	if (fake_get("driver_version") < FAKE_CUBLAS_MAJOR * 1000 || fake_get("cublas_create_fails") == FAKE_CUBLAS_MAJOR) {
		return 1;
	}
	fake_add("live_handles", 1);
	*h = &handle_token;
	return 0;
}

int cublasDestroy_v2(void *h)
{
	if (h != &handle_token || !fake_have_context()) {
		return 1;
	}
	fake_add("live_handles", -1);
	return 0;
}

int cublasGetVersion_v2(void *h, int *v)
{
	*v = FAKE_CUBLAS_MAJOR * 10000 + 401;
	return 0;
}

int cublasSetStream_v2(void *h, void *s) { return h == &handle_token ? 0 : 1; }
int cublasSetMathMode(void *h, int mode) { math_mode = mode; return mode == 0 || mode == 3 ? 0 : 7; }
int cublasSetPointerMode_v2(void *h, int mode) { return mode == 0 ? 0 : 7; }

const char *cublasGetStatusString(int s)
{
	switch (s) {
	case 1: return "the library was not initialized";
	case 7: return "an invalid numeric value was used as an argument";
	}
	return "other";
}

struct gemm {
	int ta, tb, m, n, k, lda, ldb, ldc, batch;
	long long sa, sb, sc;
	float alpha, beta;
	const float *a, *b;
	float *c;
};

/* run_gemm runs a product; matrices outside device memory are an illegal
 * address. */
static int run_gemm(void *data)
{
	const struct gemm *g = data;
	if (g->m > 0 && g->n > 0 && g->batch > 0) {
		size_t ea = (size_t)((g->ta ? g->m : g->k) - 1) * g->lda + (g->ta ? g->k : g->m);
		size_t eb = (size_t)((g->tb ? g->k : g->n) - 1) * g->ldb + (g->tb ? g->n : g->k);
		size_t ec = (size_t)(g->n - 1) * g->ldc + g->m;
		if ((g->k > 0 && (!fake_device_memory(g->a, 4 * ((g->batch - 1) * g->sa + ea)) ||
				     !fake_device_memory(g->b, 4 * ((g->batch - 1) * g->sb + eb)))) ||
			!fake_device_memory(g->c, 4 * ((g->batch - 1) * g->sc + ec))) {
			return 700;
		}
	}
	for (int z = 0; z < g->batch; z++) {
		const float *a = g->a + z * g->sa, *b = g->b + z * g->sb;
		float *c = g->c + z * g->sc;
		for (int i = 0; i < g->m; i++) {
			for (int j = 0; j < g->n; j++) {
				double s = 0;
				for (int l = 0; l < g->k; l++) {
					double x = g->ta ? a[l + (size_t)i * g->lda] : a[i + (size_t)l * g->lda];
					double y = g->tb ? b[j + (size_t)l * g->ldb] : b[l + (size_t)j * g->ldb];
					s += x * y;
				}
				float *cij = &c[i + (size_t)j * g->ldc];
				*cij = g->beta == 0 ? (float)(g->alpha * s) : (float)(g->alpha * s + g->beta * *cij);
			}
		}
	}
	return 0;
}

int cublasSgemmStridedBatched(void *h, int ta, int tb, int m, int n, int k, const float *alpha,
	const float *a, int lda, long long sa, const float *b, int ldb, long long sb,
	const float *beta, float *c, int ldc, long long sc, int batch)
{
	if (h != &handle_token || !fake_have_context()) {
		return 1;
	}
	if (fake_sticky()) {
		return 13; /* CUBLAS_STATUS_EXECUTION_FAILED */
	}
	int rows_a = ta ? k : m, rows_b = tb ? n : k;
	if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || m < 0 || n < 0 || k < 0 || batch < 0 ||
		lda < (rows_a > 1 ? rows_a : 1) || ldb < (rows_b > 1 ? rows_b : 1) || ldc < (m > 1 ? m : 1)) {
		return 7;
	}
	struct gemm *g = malloc(sizeof *g);
	*g = (struct gemm){ta, tb, m, n, k, lda, ldb, ldc, batch, sa, sb, sc, *alpha, *beta, a, b, c};
	fake_add("gemms", 1);
	fake_enqueue_host(run_gemm, g);
	return 0;
}

int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
	const float *b, int ldb, const float *beta, float *c, int ldc)
{
	return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}
