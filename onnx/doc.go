// Package onnx writes a model file as one self-contained ONNX graph,
// preprocessing included, so that ONNX Runtime (from Python, Java, C#,
// C++, JavaScript or Go), Triton or KServe can serve it:
//
//	inputs, one [N, 1] tensor per column, named as the column:
//	    double for a numeric column, string for a categorical or
//	    embedded one and for the group column of task families;
//	    and one [N, d] double tensor per block (Model.Blocks, a NumPy
//	    feature file's columns PREFIX[0] … PREFIX[d−1]) named PREFIX
//	preprocessing, as data.Schema.Encode does it:
//	    numeric, in double with the operations of package data in
//	    their order, then rounded to float; NaN (missing) is the
//	    training mean when the model imputes it:
//	        standard: (x − mean)/scale
//	        robust: u = (x − centre)/scale clamped to ±1e150,
//	            u/√(1 + (u/3)²)
//	        ple: clip((x − e_i)/(e_{i+1} − e_i), 0, 1) for every bin
//	        quantile: the segment i (the number of inner knots ≤ x),
//	            then score_i + t·(score_{i+1} − score_i) with
//	            t = clip((x − knot_i)/(knot_{i+1} − knot_i), 0, 1)
//	    categorical: ai.onnx.ml LabelEncoder to the category's index,
//	        then one-hot; a value unseen in training is all zeros
//	    embedded: LabelEncoder to the value's row of the table
//	        (vocabulary value k is row k+1; any other value row 0)
//	network, per member (mtl.Model.Parts):
//	    x = the dense columns, then each table's row (Gather), in the
//	        order of the features
//	    shared bottom: H_0 = x, H_l = φ(H_{l−1}·W_l + c_l), and
//	        Z = H_L·[A; D]ᵀ + [b; e]
//	    MMoE and PLE, level by level (the first reads x, a later one
//	    the mixtures of the level below):
//	        H_e = expert e's layers, φ after each
//	        G_q = softmax(X_q·V_q + g_q) over gate q's slots
//	        F_q = Σ_s G_q[:, s]·H_{e(s)}
//	      and task t's logits are F_t (of the last level) times its
//	      rows of [A; D], plus [b; e]
//	heads, in double:
//	    the head of the row's group (the shared head plus the group's
//	    deviation; the shared head alone for an unseen group),
//	    then softmax, sigmoid, or value·std + mean
//	the mean over members (ensembles, cross-validation folds)
//	outputs, per task:
//	    classification: TASK, the predicted class as written in
//	        training ([N] string), and TASK:probabilities ([N, K]
//	        float, in the order of the classes)
//	    regression: TASK, the value ([N, 1] double)
//
// The file declares IR version 8, opset 17 and ai.onnx.ml opset 3, and
// its metadata lists the inputs, the outputs with their tasks and classes
// (mtl-gpu.inputs, mtl-gpu.outputs) and whatever the caller adds.
// Categorical strings are matched exactly: trim them, as predict does,
// before feeding them.
//
// Export refuses, with an *UnsupportedError naming it, any kind of model
// it cannot write (Supported says which before anything is built): today
// hashed embedded columns, whose row is MurmurHash3 of the value
// (data.HashBucket), which no ONNX operator computes. The
// ONNX types come from package onnxpb, generated from the ONNX proto
// definition.
package onnx
