// Package metrics scores predictions against labels, per task and over all
// tasks, for the eval command of mtl-gpu.
//
// Each task is scored by the function of its type: Multiclass, Binary or
// Regression. Rows whose label is missing (−1 for class indices, NaN for
// values) are skipped, so a task's N counts only labelled rows. Summarise
// collects the tasks into a Report and adds overall metrics; the Report
// marshals to the JSON that eval --json prints and formats as a table for
// people with Table.
//
// # Per task
//
// Binary tasks decide positive at probability p ≥ 0.5 and report accuracy,
// F1 of the positive class, the area under the ROC curve and log loss:
//
//	f1       = 2·TP / (2·TP + FP + FN)
//	auc      = (R₊ − n₊(n₊ + 1)/2) / (n₊ · n₋)      R₊: sum of the midranks of positives
//	log_loss = −(1/n) Σ log clip(p(true class))     clip to [1e−15, 1 − 1e−15]
//
// Multiclass tasks predict the most probable class (the first on ties) and
// report accuracy, log loss, and macro_f1, the mean per-class F1 over the
// classes that occur in the labels or the predictions (scikit-learn's
// default set of labels).
//
// Regression tasks report rmse, mae and
//
//	r2                 = 1 − SSE / SST                  SST = Σ (y − ȳ)²
//	explained_variance = 1 − Var(y − ŷ) / Var(y)         as scikit-learn's explained_variance_score
//
// # Overall
//
// Every overall metric is the unweighted mean of one per-task metric over
// the tasks of one type (scikit-learn's "uniform_average"), and is named
// for what it averages: TYPE_mean_METRIC, such as binary_mean_auc,
// multiclass_mean_macro_f1 or regression_mean_r2. Nothing is pooled across
// tasks: rows of targets in different units never meet, and with one task
// each overall metric is that task's metric of the same name. The means of
// RMSE and MAE still mix the units of their tasks; the R² and explained
// variance means do not.
//
// A family of tasks (a target split by a group column, one head per group)
// counts as one task: its metrics are over all of its rows, and its
// per-group metrics are listed under it (Groups) but not averaged again.
//
// # Classes unseen in training
//
// A labelled row whose class the model never saw cannot be scored by the
// predicted probabilities: CountUnseen counts it as an error in accuracy
// and leaves it out of the other metrics.
//
// # Undefined values
//
// A metric that is undefined for the data is nil and written as JSON null:
// AUC with one class present, F1 with no positive row and no positive
// prediction, any metric of a task with no labelled row, r2 and explained
// variance with constant y, and any value that comes out NaN or infinite
// (for example from NaN predictions). Undefined task metrics are left out
// of the overall means. An overall key is written exactly when the report
// has a task of its type, and is null when none of those tasks gives it a
// value.
//
// Misuse of shapes (lengths that disagree, a class index out of range)
// panics with a message that names the function.
package metrics
