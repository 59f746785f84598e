// Package data reads the tabular files mtl-gpu trains on and turns them
// into numbers.
//
// # The block path
//
// A Source reads a table in blocks of rows, column by column, without a
// table of strings: numbers as float64 and texts as block-local codes (see
// Block, Column and ColumnWant). OpenCSV reads CSV/TSV (plain or gzip) in
// parallel chunks, OpenParquet reads Parquet row group by row group,
// OpenNpy reads a NumPy matrix, Join glues sources side by side, and a
// block cache (CacheWriter, OpenCache) keeps a first scan for later passes.
// WriteParquet and WriteCSV write any source. The sources of files are
// PartScanners, which the processes of a data-parallel job scan one part
// each, the parts in order giving the blocks of Scan; a gzip text file or
// a stream cannot be split (CSVSource.Splittable).
//
// A training run takes two passes over its source:
//
//	res, err := data.FitSource(ctx, src, opts)            // schema, rows, groups, strata
//	parts, warnings, err := res.Schema.EncodeSource(ctx, src,
//		data.EncodeOptions{Targets: true, Parts: split, NumParts: 2})
//
// FitSource learns the Schema and gives, per row, its group and its
// stratum (the class of the first classification target), which is what a
// split needs; Options.Include leaves held-out rows out of the statistics.
// EncodeSource writes every row straight into its part (training,
// validation, −1 for none), at any position in it (EncodeOptions.
// Positions). For data larger than memory, EncodeBlocks hands out one
// encoded block at a time, and BlockEncoder encodes blocks read in any
// order (CacheSource.ReadBlock); PredictionWriter writes predictions block
// by block, next to columns passed through (EncodeOptions.Keep). Inspect
// summarises a source in one pass.
//
// The Options say which columns are targets (task specs such as
// "income:binary" or "Class*:multiclass:0.5", see ParseTaskSpec), which
// column splits the rows into groups, which columns to ignore and which to
// treat as categorical. Every remaining column is a feature. Encoding
// turns rows into a dense float32 matrix, per-target labels, per-row group
// indices and, for embedded features, per-row table rows. The Schema is
// stored in the model file as JSON, so that prediction and evaluation
// encode their files exactly as training did; Validate checks a schema
// read back.
//
// The package's tests keep, as the reference the block path is checked
// against, a short implementation that reads a whole file into strings
// with encoding/csv and fits and encodes it: on the same rows the block
// path gives exactly its schema, values, warnings and errors.
//
// # Features
//
// A feature column is numeric when every non-missing training value is a
// number, and categorical otherwise or when the options force it.
//
// # Numeric features
//
// Options.Numeric chooses how numeric columns are encoded, for every
// numeric column of a run; the schema stores each column's parameters
// (Feature.Encoding, Center, Edges, Scores), so that every encoder
// (EncodeSource, EncodeBlocks, BlockEncoder, Encode) and the ONNX export
// reproduce it exactly:
//
//   - Standard, the default: the training mean μ and population standard
//     deviation σ (a constant column keeps σ = 1):
//
//     z = (x − μ) / σ
//
//   - Robust, RealMLP's preprocessing (Holzmüller et al. 2024, "Better by
//     Default"): centred by the median m and scaled by the interquartile
//     range s = q₇₅ − q₂₅, or half the range (max − min)/2 when the
//     quartiles coincide (1 for a constant column), then smoothly
//     clipped to (−3, 3):
//
//     u = (x − m) / s,  z = u / √(1 + (u/3)²)
//
//   - Quantile, as scikit-learn's QuantileTransformer with a normal
//     output: the quantiles q_j of the column at QuantileLevels evenly
//     spaced levels r_j = j/(L − 1) (L = 1000, or the number of values
//     when fewer) are the knots of a piecewise-linear map, each distinct
//     quantile once, scored Φ⁻¹ of the middle of the levels it spans
//     (clamped to [10⁻⁷, 1 − 10⁻⁷], so |z| ≤ 5.2); between knots the
//     score is interpolated linearly, below the first and above the last
//     it is theirs. Unlike QuantileTransformer, which interpolates the
//     level and then takes Φ⁻¹, the map is linear in the score between
//     knots (the same at the knots), and a value shared by many rows
//     scores the middle of their ranks rather than the bottom, so that
//     the whole map is one piecewise-linear function. A constant column
//     scores 0.
//
//   - PLE, the piecewise-linear encoding of Gorishniy et al. 2022 ("On
//     Embeddings for Numerical Features in Tabular Deep Learning"): bin
//     edges e₀ < … < e_K, and one encoded column per bin,
//
//     z_i = clip((x − e_i) / (e_{i+1} − e_i), 0, 1),  i = 0 … K−1,
//
//     named COLUMN[ple0] … in EncodedNames. The edges are the quantiles
//     of the column at levels 0, 1/B, …, 1 (B = NumericEncoding.Bins, or
//     AutoPLEBins of the column's training values within PLEBinsWithin
//     of the table), each once; when values shared by many rows (a
//     column that is 0 on most rows) leave fewer than B bins, the
//     quantiles of the column's distinct values at levels 0, 1/k, …, 1
//     top them up, for the largest k that keeps at most B bins. A column
//     of at most B + 1 distinct values has those values as edges (a 0/1
//     column is one encoded column, x itself), and a constant column c
//     the one bin [c, c + max(1, 2⁻²⁰·|c|)].
//
// The quantiles are those of numpy.quantile (linear interpolation between
// ranks), over the training rows only (Options.Include), missing values
// left out. FitSource reads each column once, so it takes them from a
// sample of at most QuantileSample values per column: every value when
// the column has no more, else a uniform reservoir sample (Algorithm R)
// drawn with one fixed PCG stream, the same for every column and every
// run, so that a column's sample depends on its values in row order alone
// and the schema on the data alone. The sample costs up to 800 KB per
// numeric column while fitting; Standard keeps none.
//
// # Categorical features
//
// Categorical columns are one-hot encoded, one encoded column per distinct
// training value in sorted order; "?" and the empty string are categories
// like any other. A value not seen in training encodes as all zeros and is
// counted in a warning.
//
// FitSource makes a categorical column with more than Options.OneHotMax
// distinct training values (DefaultOneHotMax, 64), or one named by
// Options.Embed or Options.HashBuckets, an Embedded feature instead: the
// model learns a table of vectors and looks up each row's (Encoded.Index).
// Its table has a row 0, "other", for values unseen in training or seen in
// fewer than Options.MinCount rows (DefaultMinCount, 1), then one row per
// value in sorted order; or, hashed, N rows and no vocabulary, a value's
// row being MurmurHash3 (x86, 32-bit, seed 0) of its UTF-8 bytes modulo N
// (HashBucket). Its width is fastai's rule round(1.6·rows^0.56) capped by
// Options.EmbedDimMax (DefaultEmbedDimMax, 64), or what Options.Embed
// says. Schema.Embeddings lists the tables.
//
// A cell is missing when, trimmed, it is empty, "?", "NA" or "NaN" (any
// case; see IsMissing). In a numeric column a missing value is an error
// unless Options.Impute is "mean", which stands in the training mean,
// then encoded (0 after standardisation). "inf" and numbers beyond float64 range are
// errors, not missing values.
//
// # Targets
//
// A missing target cell is a missing label (NaN in Encoded.Labels); the
// trainer skips it for that task only. A regression target is kept in
// float64 until it is centred: FitSource stores its training mean as
// Target.Offset, and its labels are float32(y − Offset), so that a target
// of 10⁹ + N(0, 1) keeps its variance; add the offset back to a
// prediction. Class labels are kept as written (trimmed) and sorted,
// numerically when all are numbers, so the class indices do not depend on
// row order. A binary target has at most two
// labels; the positive one (label 1) is the second of the pairs 0/1,
// false/true and no/yes in any case, and otherwise the larger. A binary
// target with one label of such a pair gets the other as its second class.
//
// With a group column (for example a school id) every target becomes a
// family of tasks with one head per group, named TARGET@GROUP (see
// Schema.HeadName). A group not seen in training encodes as −1, which the
// trainer maps to a shared head.
//
// # Errors and warnings
//
// Errors are values of type *Error and print as one line that names the
// file, the line (the header is line 1) and the column by name and
// 1-based position:
//
//	adult_train.csv:17: column "age" (1): "abc" is not a number
//
// A binary source (Parquet, NumPy) names the row instead of the line:
//
//	adult.parquet: column "age" (1): row 16: "abc" is not a number
//
// Nothing in this package prints or exits. Conditions that are allowed but
// worth knowing (imputed values, unseen categories, a one-class target) are
// returned as warning lines for the caller to log.
package data
