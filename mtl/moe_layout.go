package mtl

// moeLayout is the parameter layout of a mixture-of-experts body: MMoE is
// PLE with one level, no task experts and a gate per task over the shared
// experts.
//
// Each level has NE = T·E_t + E_s experts, each an MLP with the widths of
// Spec.Hidden: task t's own experts are numbers t·E_t … (t+1)·E_t − 1 and
// the shared ones follow. The experts' layer i is stored as one matrix
// w_{i−1} × NE·w_i with expert e in columns [e·w_i, (e+1)·w_i), so that
// every expert of the first layer of the first level is one GEMM on the
// input, and the experts' outputs sit side by side in a batch's rows. The
// gates of a level are one matrix in × S, S the number of gate slots:
// task t's gate has a slot for each of its own experts and each shared
// expert; below the last level a shared gate has a slot for every expert
// (backend.MixTable describes the slots).
//
// The first level reads the body's input; a later level's task experts
// and task gate t read task t's mixture from the level below, and its
// shared experts and shared gate read the shared mixture.
type moeLayout struct {
	tasks, taskExperts, sharedExperts int
	widths                            []int // w_1 … w_h, the experts' layer widths
	rep                               int   // w_h
	levels                            []moeLevel
}

// moeLevel is one level's parameters and mixtures.
type moeLevel struct {
	in         int   // width of the level's inputs
	numExperts int   // NE
	weights    []int // offset of each layer's weights
	biases     []int // offset of each layer's biases (NE·w_i)
	gates      int   // offset of the gate weights, in × slots
	gateBias   int   // offset of the gate biases, slots
	starts     []int // first slot of each mixture group, and the total
	experts    []int // the expert of each slot
}

// groups is the number of mixtures of the level: one per task, and the
// shared one below the last level.
func (lv *moeLevel) groups() int { return len(lv.starts) - 1 }

// slots is the number of gate slots.
func (lv *moeLevel) slots() int { return len(lv.experts) }

// shared reports whether the level has a shared mixture.
func (lv *moeLevel) shared(tasks int) bool { return lv.groups() > tasks }

func newMoeLayout(s Spec, in int) *moeLayout {
	m := &moeLayout{tasks: len(s.Tasks), widths: s.Hidden, rep: s.Hidden[len(s.Hidden)-1], sharedExperts: s.Experts}
	levels := 1
	if s.arch() == PLE {
		m.taskExperts, levels = s.TaskExperts, s.Levels
	}
	for l := range levels {
		lv := moeLevel{in: in, numExperts: m.tasks*m.taskExperts + m.sharedExperts}
		if l > 0 {
			lv.in = m.rep
		}
		shared := m.tasks * m.taskExperts
		for t := range m.tasks {
			lv.starts = append(lv.starts, len(lv.experts))
			for e := range m.taskExperts {
				lv.experts = append(lv.experts, t*m.taskExperts+e)
			}
			for e := range m.sharedExperts {
				lv.experts = append(lv.experts, shared+e)
			}
		}
		if l < levels-1 {
			lv.starts = append(lv.starts, len(lv.experts))
			for e := range lv.numExperts {
				lv.experts = append(lv.experts, e)
			}
		}
		lv.starts = append(lv.starts, len(lv.experts))
		m.levels = append(m.levels, lv)
	}
	return m
}

// layerIn is the input width of the experts' layer i at level lv.
func (m *moeLayout) layerIn(lv *moeLevel, i int) int {
	if i == 0 {
		return lv.in
	}
	return m.widths[i-1]
}

// placeWeights places every level's expert and gate weights from off and
// returns the offset after them.
func (m *moeLayout) placeWeights(off int) int {
	for l := range m.levels {
		lv := &m.levels[l]
		for i, w := range m.widths {
			lv.weights = append(lv.weights, off)
			off += m.layerIn(lv, i) * lv.numExperts * w
		}
		lv.gates = off
		off += lv.in * lv.slots()
	}
	return off
}

// placeBiases places every level's expert and gate biases from off and
// returns the offset after them.
func (m *moeLayout) placeBiases(off int) int {
	for l := range m.levels {
		lv := &m.levels[l]
		for _, w := range m.widths {
			lv.biases = append(lv.biases, off)
			off += lv.numExperts * w
		}
		lv.gateBias = off
		off += lv.slots()
	}
	return off
}

// expertGroups is the number of groups of experts: each task's own, and
// the shared ones.
func (m *moeLayout) expertGroups() int { return m.tasks + 1 }

// group returns the experts [first, first+n) of mixture group q's own
// experts for the first layer: task t's experts, or the shared ones for
// the shared group. The experts of a task group read the task's mixture of
// the level below, those of the shared group the shared mixture.
func (m *moeLayout) group(q int) (first, n int) {
	if q < m.tasks {
		return q * m.taskExperts, m.taskExperts
	}
	return m.tasks * m.taskExperts, m.sharedExperts
}
