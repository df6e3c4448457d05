// Package flowfile reads pipeline files, the YAML that `sluice pipeline run`
// runs: source streams, decoding, a filter and fields computed in CEL, keyed
// windowed aggregations and their sinks, in one file (docs/pipeline.md is the
// reference). Parse checks a file completely (every key, every type, every
// expression against the record's declared shape) and reports each mistake
// at its line and column; Spec.Build turns the result into a flow.Pipeline.
//
//	file ──Parse──► Spec (CEL compiled once) ──Build──► flow.Pipeline + sinks ──Run
//
// Expressions are compiled and type-checked once, evaluated per record
// against the decoded JSON in place, under a cost limit per evaluation. A
// record an expression fails on is an operator error of flow's: it goes to
// the dead-letter stream, or stops its shard.
package flowfile

import "reflect"

func reflectOf(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }
