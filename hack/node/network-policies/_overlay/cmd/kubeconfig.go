// Added to kube-network-policies by MCP Conductor's hack/node/network-policies
// (patch.go makes main read its configuration through restConfig): the engine
// runs as a process of a local node, not in a pod, so it needs a kubeconfig.

package main

import (
	"flag"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var kubeconfig string

func init() {
	flag.StringVar(&kubeconfig, "kubeconfig", "", "Path to a kubeconfig file; the in-cluster configuration when empty")
}

// restConfig reads --kubeconfig when it is set, else the in-cluster configuration.
func restConfig(inCluster func() (*rest.Config, error)) (*rest.Config, error) {
	if kubeconfig == "" {
		return inCluster()
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}
