package backend

import "fmt"

// GemmDims checks the operands of Gemm and returns m, n and k, where op(a)
// is m×k, op(b) is k×n and c is m×n. It panics with a named message on a
// mismatch. Backends call it before enqueueing the operation.
func GemmDims(op string, transA, transB bool, a, b, c Mat) (m, n, k int) {
	a.checkPart(op, "a", Float32)
	b.checkPart(op, "b", Float32)
	c.checkPart(op, "c", Float32)
	m, k = a.Rows, a.Cols
	if transA {
		m, k = k, m
	}
	kb, n := b.Rows, b.Cols
	if transB {
		kb, n = n, kb
	}
	if k != kb || c.Rows != m || c.Cols != n {
		panic(fmt.Sprintf("backend: %s: op(a) %d×%d, op(b) %d×%d, c %d×%d do not fit", op, m, k, kb, n, c.Rows, c.Cols))
	}
	return m, n, k
}

// CheckStrided checks the operands of GemmStrided: the last matrix of each
// batch must fit its buffer and strides must not be negative.
func CheckStrided(transA, transB bool, a Mat, strideA int, b Mat, strideB int, c Mat, strideC int, batch int) (m, n, k int) {
	m, n, k = GemmDims("GemmStrided", transA, transB, a, b, c)
	if batch < 0 || strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("backend: GemmStrided: negative batch %d or stride (%d, %d, %d)", batch, strideA, strideB, strideC))
	}
	if batch > 1 {
		last := func(x Mat, stride int, name string) {
			x.Off += (batch - 1) * stride
			x.Check("GemmStrided "+name, Float32)
		}
		last(a, strideA, "a")
		last(b, strideB, "b")
		last(c, strideC, "c")
		if strideC == 0 {
			panic("backend: GemmStrided: the batch would write one c several times")
		}
	}
	return m, n, k
}

// SameShape panics unless a and b have the same shape.
func SameShape(op string, a, b Mat) {
	if a.Rows != b.Rows || a.Cols != b.Cols {
		panic(fmt.Sprintf("backend: %s: shapes %d×%d and %d×%d differ", op, a.Rows, a.Cols, b.Rows, b.Cols))
	}
}

// SameLen panics unless the vectors have equal length.
func SameLen(op string, vs ...Vec) {
	for _, v := range vs[1:] {
		if v.Len != vs[0].Len {
			panic(fmt.Sprintf("backend: %s: lengths %d and %d differ", op, vs[0].Len, v.Len))
		}
	}
}

// CheckGather checks the operands of GatherRows.
func CheckGather(dst, src Mat, idx Buffer, idxOff int) {
	dst.Check("GatherRows dst", Float32)
	src.Check("GatherRows src", Float32)
	if idx == nil || idx.DType() != Int32 {
		panic("backend: GatherRows: idx must be an int32 buffer")
	}
	if dst.Cols != src.Cols {
		panic(fmt.Sprintf("backend: GatherRows: %d columns from %d", dst.Cols, src.Cols))
	}
	if idxOff < 0 || idxOff+dst.Rows > idx.Len() {
		panic(fmt.Sprintf("backend: GatherRows: indices [%d, %d) outside %d", idxOff, idxOff+dst.Rows, idx.Len()))
	}
}

// CheckBiasAct checks the operands of BiasAct.
func CheckBiasAct(m Mat, bias Vec, act Activation) {
	m.Check("BiasAct", Float32)
	if bias.Len != 0 {
		bias.Check("BiasAct bias", Float32)
		if bias.Len != m.Cols {
			panic(fmt.Sprintf("backend: BiasAct: bias of %d for %d columns", bias.Len, m.Cols))
		}
	}
	checkAct("BiasAct", act)
}

// CheckActGrad checks the operands of ActGrad.
func CheckActGrad(grad, out Mat, act Activation) {
	grad.Check("ActGrad grad", Float32)
	out.Check("ActGrad out", Float32)
	SameShape("ActGrad", grad, out)
	checkAct("ActGrad", act)
}

func checkAct(op string, act Activation) {
	if act < Identity || act > Tanh {
		panic(fmt.Sprintf("backend: %s: unknown activation %d", op, act))
	}
}

// CheckColSum checks the operands of ColSum.
func CheckColSum(dst Vec, m Mat) {
	dst.Check("ColSum dst", Float32)
	m.Check("ColSum m", Float32)
	if dst.Len != m.Cols {
		panic(fmt.Sprintf("backend: ColSum: %d sums for %d columns", dst.Len, m.Cols))
	}
}

// CheckSGD checks the operands of SGDStep.
func CheckSGD(hp SGD, param, grad, vel Vec, clip Clip) {
	checkStep("SGDStep", param, grad, clip)
	if hp.Momentum != 0 {
		vel.checkPart("SGDStep", "velocity", Float32)
		SameLen("SGDStep", param, vel)
	}
}

// CheckAdam checks the operands of AdamStep.
func CheckAdam(param, grad, m, v Vec, clip Clip) {
	checkStep("AdamStep", param, grad, clip)
	m.checkPart("AdamStep", "m", Float32)
	v.checkPart("AdamStep", "v", Float32)
	SameLen("AdamStep", param, m, v)
}

func checkStep(op string, param, grad Vec, clip Clip) {
	param.checkPart(op, "param", Float32)
	grad.checkPart(op, "grad", Float32)
	SameLen(op, param, grad)
	if clip.MaxNorm != 0 {
		clip.NormSq.checkPart(op, "clip", Float32)
		if clip.NormSq.Len != 1 {
			panic(fmt.Sprintf("backend: %s: clip norm vector of length %d", op, clip.NormSq.Len))
		}
	}
}
