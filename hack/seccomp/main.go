// Writes the code-runner's container seccomp profile (deploy/seccomp/code-runner.json):
// containerd's RuntimeDefault profile for a container with every capability
// dropped, as the restricted Pod Security level asks, plus what bubblewrap
// needs to build a snippet's sandbox from an unprivileged user: clone and
// unshare with namespace flags, mount, umount2 and pivot_root (all of them
// act only inside the user namespace bubblewrap makes; outside it the
// container has no capability that would let them do anything).
// Built by build-profile.sh against the pinned containerd's source.
package main

import (
	"encoding/json"
	"os"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	sp := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	p := seccomp.DefaultProfile(sp)
	var syscalls []specs.LinuxSyscall
	for _, s := range p.Syscalls {
		// RuntimeDefault allows clone only without namespace flags (an argument mask); bubblewrap needs them.
		if len(s.Names) == 1 && s.Names[0] == "clone" {
			continue
		}
		syscalls = append(syscalls, s)
	}
	syscalls = append(syscalls, specs.LinuxSyscall{
		Names:  []string{"clone", "unshare", "mount", "umount2", "pivot_root"},
		Action: specs.ActAllow,
	})
	p.Syscalls = syscalls
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		panic(err)
	}
}
