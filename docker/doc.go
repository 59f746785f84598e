// Package docker holds the Dockerfiles of mtl-gpu's images (cpu.Dockerfile,
// cuda.Dockerfile; see their comments for how to build and run them). It has
// no code: its test keeps the images' Go toolchain and base images in step
// with go.mod and with the CUDA versions the backend loads.
package docker
