// Package processors groups the stage processors of lsrflow's topology; each sub-package is one
// streams.Processor: retrieve (queries -> candidates), teach (candidates -> scored records),
// sink (scored records or dead letters -> files), evaluate (candidates -> metrics).
//
// Processors decode their input with the schemas decoders: a record that does not decode is a
// permanent error and the runner dead-letters it. Outputs are keyed by query id so that every
// stage keeps a query's records in one partition.
package processors
