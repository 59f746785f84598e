#!/usr/bin/env bash
# mutation-check: break the trainer's weighting methods on purpose, one
# named mutation at a time, in a copy of the tree, and report which tests
# catch each. Every mutation must make a test fail; the script exits
# non-zero when one survives, when a mutation's pattern is not found
# exactly as often as expected (so that it cannot silently test nothing),
# or when a mutated copy does not build.
#
#   scripts/mutation-check.sh            # every mutation
#   scripts/mutation-check.sh NAME...    # the named ones
#   scripts/mutation-check.sh --list     # the names
#
# The working tree is never modified: its files (tracked and untracked,
# not ignored ones) are copied to a temporary folder, and each mutation
# edits that copy, starting from pristine files. Each run is
# `go test -short -count=1` of ./mtl/... (./backend/cuda/ for a kernel), the tests of `make test`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}

# name|description — the edits are in the function mutate_<name with _>.
mutations=(
	"uncertainty-as-equal|uncertainty weighting replaced by equal weighting"
	"dwa-as-equal|DWA replaced by equal weighting"
	"gradnorm-as-equal|GradNorm replaced by equal weighting"
	"pcgrad-as-equal|PCGrad replaced by equal weighting"
	"mgda-as-equal|MGDA replaced by equal weighting"
	"combine-skipped|Trainer.combine a no-op: shared layers get no gradient under GradNorm, PCGrad, MGDA"
	"combine-plain-sum|the step's combination forced to the plain sum of the task gradients"
	"bias-grads-halved|bias gradients halved in backward (ColSum alpha 1 -> 0.5)"
	"task-bias-grads-halved|bias gradients halved in the per-task gradients"
	"uncertainty-frozen|uncertainty's Adam update of the log-variances skipped"
	"gradnorm-frozen|GradNorm's Adam update of the weights skipped"
	"gradnorm-no-renormalise|GradNorm's weights not renormalised to sum T"
	"gradnorm-initial-nan|GradNorm records L_t(0) from the first batch, NaN when it has no label"
	"dwa-no-temperature|DWA's temperature ignored"
	"dwa-history-nan|DWA keeps NaN in its loss history"
	"uncertainty-no-half|uncertainty's loss weight e^-s instead of e^-s/2"
	"pcgrad-fixed-order|PCGrad projects in a fixed order instead of a random one"
	"pcgrad-projects-always|PCGrad projects also when gradients agree"
	"mgda-keeps-unlabelled|MGDA keeps tasks without a label in the batch"
	"mgda-approximate|MGDA by 250 Frank-Wolfe iterations instead of the exact solver"
	"task-weights-ignored|the static task weights lambda_t left out of the loss weights"
	"clipping-ignored|gradient clipping never applied"
	"kernel-tree-sum-race|the work-group tree sum without its barrier between halvings"
	"kernel-axpy-assigns|the axpy kernel assigns alpha*x instead of adding it"
	"kernel-sigmoid-grad-sign|the sigmoid loss gradient of a positive label with its sign flipped"
)

# edit FILE OLD NEW [COUNT]: replace the literal text OLD by NEW in FILE of
# the copy, requiring OLD to occur exactly COUNT times (default 1).
edit() {
	local file=$1 old=$2 new=$3 count=${4:-1}
	OLD=$old NEW=$new COUNT=$count perl -0777 -i -pe '
		BEGIN { $old = $ENV{OLD}; $new = $ENV{NEW}; $want = $ENV{COUNT} }
		$n = () = /\Q$old\E/g;
		die "pattern found $n times, want $want: $old\n" unless $n == $want;
		s/\Q$old\E/$new/g;
	' "$tree/$file"
}

mutate_uncertainty_as_equal() { edit mtl/weighting.go 'case Uncertainty:' 'case "mutated-away":'; }
mutate_dwa_as_equal() { edit mtl/weighting.go 'case DWA:' 'case "mutated-away":'; }
mutate_gradnorm_as_equal() { edit mtl/weighting.go 'case GradNorm:' 'case "mutated-away":'; }
mutate_pcgrad_as_equal() { edit mtl/weighting.go 'case PCGrad:' 'case "mutated-away":'; }
mutate_mgda_as_equal() { edit mtl/weighting.go 'case MGDA:' 'case "mutated-away":'; }
mutate_combine_skipped() {
	edit mtl/taskgrad.go 'func (t *Trainer) combine(w []float32) {' $'func (t *Trainer) combine(w []float32) {\n\treturn'
}
mutate_combine_plain_sum() {
	edit mtl/step.go 'combo := t.methods[m].step(memberSlice(losses, m, nt), grams[m])' $'combo := t.methods[m].step(memberSlice(losses, m, nt), grams[m])\n\t\tcombo = nil'
}
mutate_bias_grads_halved() {
	edit mtl/backward.go 't.memberDz(dz, m), 1, 0)' 't.memberDz(dz, m), 0.5, 0)'
	edit mtl/backward.go 'shift(dh, m*dhStride(dh.Cols)), 1, 0)' 'shift(dh, m*dhStride(dh.Cols)), 0.5, 0)'
}
mutate_task_bias_grads_halved() {
	edit mtl/taskgrad.go 'b.ColSum(l.headBiasVec(t.optim.grads), dz, 1, 0)' 'b.ColSum(l.headBiasVec(t.optim.grads), dz, 0.5, 0)'
	edit mtl/taskgrad.go 'b.GemmStrided(true, false, 1, ones, 0, first,' 'b.GemmStrided(true, false, 0.5, ones, 0, first,'
}
mutate_uncertainty_frozen() { edit mtl/weighting_loss.go 'u.opt.update(u.logVar, g, u.lr)' '_ = g'; }
mutate_gradnorm_frozen() { edit mtl/weighting_grad.go 'g.opt.update(g.weights, grad, g.lr)' '_ = grad'; }
mutate_gradnorm_no_renormalise() { edit mtl/weighting_grad.go 'g.weights[i] *= float64(n) / sum' 'g.weights[i] *= 1'; }
mutate_gradnorm_initial_nan() {
	edit mtl/weighting_grad.go 'if g.initial[i] <= 0 && !math.IsNaN(l) {' 'if first {'
}
mutate_dwa_no_temperature() { edit mtl/weighting_loss.go 'r[i] /= d.temp' 'r[i] /= 1'; }
mutate_dwa_history_nan() { edit mtl/weighting_loss.go 'rec[i] = -1' 'rec[i] = l'; }
mutate_uncertainty_no_half() {
	edit mtl/weighting_loss.go 'out[i] = math.Exp(-u.logVar[i]) / 2' 'out[i] = math.Exp(-u.logVar[i])'
}
mutate_pcgrad_fixed_order() {
	edit mtl/weighting_grad.go 'rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })' '_ = rng'
}
mutate_pcgrad_projects_always() { edit mtl/weighting_grad.go 'if dot < 0 {' 'if dot != 0 {'; }
mutate_mgda_keeps_unlabelled() { edit mtl/weighting_grad.go 'if gram[t*n+t] > 0 {' 'if gram[t*n+t] >= 0 {'; }
mutate_mgda_approximate() {
	edit mtl/minnorm.go 'if n <= exactSolveMax {' 'if false {'
	edit mtl/minnorm.go 'for it := range 1000 * n {' 'for it := range 250 {'
}
mutate_task_weights_ignored() { edit mtl/step.go 'w[i] *= task.weight()' 'w[i] *= task.weight() / task.weight()'; }
mutate_clipping_ignored() { edit mtl/step.go 'MaxNorm: float32(cfg.ClipNorm)}' 'MaxNorm: 0}'; }
# The kernel mutations edit kernels/, which the CUDA backend's tests run
# through the stand-in driver (its kernels built from the same sources for
# the host): a wrong kernel must fail them, not only the PTX's hash.
mutate_kernel_tree_sum_race() {
	edit kernels/common.h $'\t\t\tpart[lane * stride] += part[(lane + span) * stride];\n\t\t}\n\t\tBARRIER();' $'\t\t\tpart[lane * stride] += part[(lane + span) * stride];\n\t\t}'
}
mutate_kernel_axpy_assigns() { edit kernels/elementwise.h 'y[y_off + i] += alpha * x[x_off + i];' 'y[y_off + i] = alpha * x[x_off + i];'; }
mutate_kernel_sigmoid_grad_sign() { edit kernels/loss.h 'd = (pw * y + 1.0f - y) * sigmoid(x) - pw * y;' 'd = (pw * y + 1.0f - y) * sigmoid(x) + pw * y;'; }

# packages NAME: the tests that must catch a mutation.
packages() {
	case $1 in
	kernel-*) echo ./backend/cuda/ ;;
	*) echo ./mtl/... ;;
	esac
}

names=()
for m in "${mutations[@]}"; do names+=("${m%%|*}"); done
if [[ ${1:-} == --list ]]; then
	printf '%s\n' "${mutations[@]}" | sed 's/|/\t/'
	exit 0
fi
selected=("$@")
if ((${#selected[@]} == 0)); then selected=("${names[@]}"); fi
for s in "${selected[@]}"; do
	if ! printf '%s\n' "${names[@]}" | grep -qx -- "$s"; then
		echo "mutation-check: unknown mutation $s (see --list)" >&2
		exit 2
	fi
done

# Tests that read the shared data sets find them beside the repository;
# the copy is elsewhere, so point them there.
if [[ -z ${MTLGPU_TESTDATA:-} ]]; then
	dir=$repo
	while [[ $dir != / ]]; do
		if [[ -d $dir/shared/data ]]; then
			export MTLGPU_TESTDATA=$dir/shared/data
			break
		fi
		dir=$(dirname "$dir")
	done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mtl-mutation.XXXXXX")
trap 'rm -rf "$work"' EXIT
pristine=$work/pristine tree=$work/tree
mkdir -p "$pristine"
git -C "$repo" ls-files -z --cached --others --exclude-standard |
	(cd "$repo" && tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$pristine"

# run_tests LOG PACKAGES...: the tests of the packages on the copy.
run_tests() {
	local log=$1
	shift
	(cd "$tree" && "$GO" test -short -count=1 "$@" >"$log" 2>&1)
}

fresh_copy() {
	rm -rf "$tree"
	cp -a "$pristine" "$tree"
}

fresh_copy
all=()
for name in "${selected[@]}"; do all+=($(packages "$name")); done
mapfile -t all < <(printf '%s\n' "${all[@]}" | sort -u)
if ! run_tests "$work/baseline.log" "${all[@]}"; then
	echo "mutation-check: the tests fail without any mutation:" >&2
	cat "$work/baseline.log" >&2
	exit 2
fi
echo "baseline: go test -short ${all[*]} passes on the unmutated copy"

survived=0 broken=0
for name in "${selected[@]}"; do
	desc=
	for m in "${mutations[@]}"; do [[ ${m%%|*} == "$name" ]] && desc=${m#*|}; done
	fresh_copy
	if ! (mutate_"${name//-/_}") 2>"$work/edit.log"; then
		printf '%-26s PATTERN NOT FOUND: %s\n' "$name" "$(cat "$work/edit.log")"
		broken=1
		continue
	fi
	log=$work/$name.log
	if run_tests "$log" $(packages "$name"); then
		printf '%-26s SURVIVED (%s)\n' "$name" "$desc"
		survived=1
		continue
	fi
	if grep -q '\[build failed\]\|\[setup failed\]' "$log"; then
		printf '%-26s BUILD FAILED (the mutation must compile)\n' "$name"
		sed -n '1,20p' "$log"
		broken=1
		continue
	fi
	# The failing tests: top-level tests, each with its failing subtests.
	failed=$( (grep -o -- '--- FAIL: [^ ]*' "$log" || true) | sed 's/--- FAIL: //' | awk '
		{ top = $0; sub(/\/.*/, "", top); if (!(top in seen)) { order[n++] = top; seen[top] = 1 }
		  if ($0 != top) { subs[top] = subs[top] (cnt[top]++ < 4 ? " " substr($0, length(top) + 2) : ""); total[top]++ } }
		END { for (i = 0; i < n; i++) { t = order[i]; s = t
			if (total[t] > 0) { s = s " (" total[t] (total[t] > 1 ? " subtests:" : " subtest:") subs[t] (total[t] > 4 ? " ..." : "") ")" }
			printf "%s%s", (i ? "; " : ""), s } }')
	if [[ -z $failed ]]; then
		# A timeout or a crash outside a test names none.
		printf '%-26s caught: go test failed without naming a test:\n' "$name"
		grep -v '^\(ok\|FAIL\|=== \)' "$log" | sed -n '1,5s/^/    /p' || true
		continue
	fi
	panic=
	if grep -q '^panic: ' "$log"; then panic=" [panicked]"; fi
	printf '%-26s caught by %s%s\n' "$name" "$failed" "$panic"
done

if ((broken)); then
	echo "mutation-check: some mutations could not be applied or did not build" >&2
	exit 2
fi
if ((survived)); then
	echo "mutation-check: some mutations survived: the tests miss them" >&2
	exit 1
fi
echo "mutation-check: all ${#selected[@]} mutations caught"
