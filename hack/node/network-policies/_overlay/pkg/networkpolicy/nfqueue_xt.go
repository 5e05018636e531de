// Added to kube-network-policies by MCP Conductor's hack/node/network-policies
// (patch.go replaces each expr.Queue with a call to nfqueueTarget).

package networkpolicy

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// nfqueueTarget queues a packet to userspace queue num through the xtables
// NFQUEUE target, revision 3, which nftables runs through nft_compat: for
// kernels built without the nftables queue expression (CONFIG_NFT_QUEUE) but
// with CONFIG_NETFILTER_XT_TARGET_NFQUEUE. It is what iptables-nft's
// "-j NFQUEUE --queue-num num [--queue-bypass]" installs; nft lists it as
// "queue num <num> [bypass]". With bypass, a packet is accepted when nothing
// listens on the queue (fail open); without it, it is dropped.
func nfqueueTarget(num uint16, bypass bool) *expr.Target {
	// struct xt_NFQ_info_v3 { __u16 queuenum; __u16 queues_total; __u16 flags; }
	// (linux/netfilter/xt_NFQUEUE.h), in host byte order, padded to
	// XT_ALIGN(6) = 8 bytes: the kernel compares the padded sizes.
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1) // queues_total: just num, no fanout
	if bypass {
		binary.NativeEndian.PutUint16(info[4:], 0x01) // NFQ_FLAG_BYPASS
	}
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}
