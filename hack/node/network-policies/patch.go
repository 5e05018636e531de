// Command patch adapts a copy of the kube-network-policies module source for
// the local node's kernel, which has nft_compat and the xtables NFQUEUE target
// but not the nftables queue expression (CONFIG_NFT_QUEUE): adding a rule with
// expr.Queue fails there with ENOENT. Every place that queues packets is made
// to use nfqueueTarget (the xtables target, see _overlay/) instead.
//
// It also gives the command a --kubeconfig flag (the release reads only the
// in-cluster configuration), stops it cleanly on SIGTERM as well as SIGINT
// (its nftables table is deleted on the way out), and makes --disable-nri take
// effect (the release parses the flag but never passes it on).
//
// Usage: go run . <copy of the module source>. Each edit names the exact text
// it replaces and how often it must occur; any mismatch fails the build, so a
// new upstream version cannot be patched half-way. The files under _overlay/
// are copied into the source at the same relative paths.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

type edit struct {
	file  string // relative to the module root
	old   string
	new   string
	count int // exact number of occurrences of old
}

var edits = []edit{
	{ // the NetworkPolicy chains (postrouting, and prerouting for the DNS race workaround)
		file:  "pkg/networkpolicy/controller.go",
		old:   "\tqueue := &expr.Queue{Num: uint16(c.config.QueueID)}\n\tif c.config.FailOpen {\n\t\tqueue.Flag = expr.QueueFlagBypass\n\t}\n",
		new:   "\tqueue := nfqueueTarget(uint16(c.config.QueueID), c.config.FailOpen)\n",
		count: 2,
	},
	{ // the DNS snooping chain of the admin network policies' domain cache
		file:  "pkg/networkpolicy/dnsagent.go",
		old:   "&expr.Queue{Num: uint16(n.nfQueueID), Flag: expr.QueueFlagBypass},",
		new:   "nfqueueTarget(uint16(n.nfQueueID), true),",
		count: 1,
	},
	{ // with NRI disabled there is no plugin; a packet from an unknown IP asks it anyway
		file:  "pkg/networkpolicy/nri.go",
		old:   "func (p *nriPlugin) GetPodFromIP(ip string) string {\n",
		new:   "func (p *nriPlugin) GetPodFromIP(ip string) string {\n\tif p == nil {\n\t\treturn \"\"\n\t}\n",
		count: 1,
	},
	{
		file:  "cmd/main.go",
		old:   "context.Background(), os.Interrupt, unix.SIGINT)",
		new:   "context.Background(), os.Interrupt, unix.SIGINT, unix.SIGTERM)",
		count: 1,
	},
	{
		file:  "cmd/main.go",
		old:   "\t\tNetfilterBug1766Fix:        netfilterBug1766Fix,\n",
		new:   "\t\tNetfilterBug1766Fix:        netfilterBug1766Fix,\n\t\tNRIdisabled:                disableNRI,\n",
		count: 1,
	},
	{ // restConfig: _overlay/cmd/kubeconfig.go
		file:  "cmd/main.go",
		old:   "config, err := rest.InClusterConfig()",
		new:   "config, err := restConfig(rest.InClusterConfig)",
		count: 1,
	},
}

// Texts that must not remain in any non-test Go file after the edits.
var gone = []string{"expr.Queue{", "expr.QueueFlag"}

func main() {
	if len(os.Args) != 2 {
		fail("usage: go run . <kube-network-policies source copy>")
	}
	root := os.Args[1]
	for _, e := range edits {
		path := filepath.Join(root, e.file)
		src, err := os.ReadFile(path)
		if err != nil {
			fail("%v", err)
		}
		if n := strings.Count(string(src), e.old); n != e.count {
			fail("%s: expected %d occurrence(s) of %q, found %d", e.file, e.count, e.old, n)
		}
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(src), e.old, e.new)), 0o644); err != nil {
			fail("%v", err)
		}
	}
	// go run . runs in this folder.
	base := "_overlay"
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, path)
		dst := filepath.Join(root, rel)
		if _, err := os.Stat(dst); err == nil {
			return fmt.Errorf("%s already exists upstream: rename the overlay file", rel)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		fail("%v", err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, g := range gone {
			if strings.Contains(string(data), g) {
				return fmt.Errorf("%s still uses %s after patching", path, g)
			}
		}
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "network-policies patch: "+format+"\n", args...)
	os.Exit(1)
}
