//go:build opencl

package main

func init() { buildTags = "opencl" }
