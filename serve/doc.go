// Package serve answers predictions of a model file over HTTP:
//
//	POST /v1/predict   a JSON array of rows, each an object keyed by
//	                   column name → {"predictions": [...]}, one object
//	                   per row in request order with the columns predict
//	                   writes (labels as strings, probabilities and
//	                   values as numbers)
//	GET  /v1/model     the model's description (pipeline.Description)
//	GET  /healthz      {"status": "ok"}
//	GET  /metrics      request counts and latencies, batches, rows and
//	                   reloads, in the Prometheus text format
//
// Concurrent requests are batched: the first request of a batch waits up
// to MaxWait for others, and their rows (up to MaxBatch) go through the
// model in one run on the device, each request getting its own rows
// back. A bad request is answered 400 with a message that names the row
// (0-based) and the column: invalid JSON, a row that is not an object, a
// missing column, a value of the wrong type, or a body over MaxBody. A
// row that only the model's preprocessing rejects (a number too large to
// standardise) fails its batch before the forward pass: the request that
// sent it gets the 400 and the rest of the batch runs without it.
//
// Reload swaps in a new model atomically: requests already checked
// against the old one are run on it, later ones on the new one, and a
// file that fails to load leaves the old model serving. Shutdown answers
// the requests in flight before it returns. Nothing here reads signals,
// flags or the environment: the command does.
package serve
