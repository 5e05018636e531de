//go:build tools

// Package tools pins the commands this module builds.
package tools

import (
	_ "github.com/fullstorydev/grpcurl/cmd/grpcurl"
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
