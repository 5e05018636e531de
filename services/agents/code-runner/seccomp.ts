/**
 * The seccomp filter a snippet runs under, as a classic BPF program that
 * bubblewrap loads (`--seccomp FD`) just before it runs the interpreter.
 *
 * It sits on top of the container's own profile (containerd's default with
 * the namespace calls bubblewrap needs, deploy/seccomp/code-runner.json) and
 * takes away what a snippet never needs and an escape would: other
 * processes' memory (ptrace, process_vm_*), new namespaces and mounts (the
 * sandbox's own, made by bubblewrap before the filter is loaded, are all it
 * gets), the kernel's keyrings, BPF, perf, userfaultfd, io_uring (whose
 * operations seccomp cannot see), module and kexec loading, and sockets other
 * than AF_UNIX (the snippet has no network namespace with a route anyway; this
 * is the second wall). A denied call fails with EPERM (EACCES for a socket),
 * so interpreters report an ordinary error instead of dying.
 *
 * Written here rather than with libseccomp: a few dozen instructions over a
 * fixed table, with no native dependency in the image and unit-testable bytes.
 */

/** Classic BPF opcodes (linux/filter.h). */
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

/** seccomp return values (linux/seccomp.h). */
const RET_KILL_PROCESS = 0x80000000;
const RET_ALLOW = 0x7fff0000;
const retErrno = (errno: number) => 0x00050000 | (errno & 0xffff);

const EPERM = 1;
const EACCES = 13;
const ENOSYS = 38;
const AF_UNIX = 1;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME. */
const CLONE_NAMESPACES =
  0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80;

/** Offsets in struct seccomp_data: nr (int), arch (u32), ip (u64), args[6] (u64, little-endian). */
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16;

export type SeccompArch = "x86_64" | "aarch64";

interface ArchTable {
  auditArch: number;
  /** x86_64's x32 ABI sets this bit in the call number: refused outright, so a table cannot be sidestepped. */
  x32Bit?: number;
  socket: number;
  clone: number;
  clone3: number;
  denied: Record<string, number>;
}

/** The calls refused with EPERM, by name, with their numbers per architecture (asm/unistd_64.h, asm-generic/unistd.h). */
const deniedCalls: Record<string, [x86_64: number, aarch64: number]> = {
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  pidfd_getfd: [438, 438],
  kcmp: [312, 272],
  process_madvise: [440, 440],
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
  chroot: [161, 51],
  move_mount: [429, 429],
  open_tree: [428, 428],
  fsopen: [430, 430],
  fsconfig: [431, 431],
  fsmount: [432, 432],
  fspick: [433, 433],
  mount_setattr: [442, 442],
  unshare: [272, 97],
  setns: [308, 268],
  keyctl: [250, 219],
  add_key: [248, 217],
  request_key: [249, 218],
  bpf: [321, 280],
  perf_event_open: [298, 241],
  userfaultfd: [323, 282],
  io_uring_setup: [425, 425],
  io_uring_enter: [426, 426],
  io_uring_register: [427, 427],
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  open_by_handle_at: [304, 265],
  name_to_handle_at: [303, 264],
  acct: [163, 89],
  swapon: [167, 224],
  swapoff: [168, 225],
  reboot: [169, 142],
  syslog: [103, 116],
  quotactl: [179, 60],
  vhangup: [153, 58],
  personality: [135, 92],
};

const tables: Record<SeccompArch, ArchTable> = {
  x86_64: {
    auditArch: 0xc000003e,
    x32Bit: 0x40000000,
    socket: 41,
    clone: 56,
    clone3: 435,
    denied: Object.fromEntries(Object.entries(deniedCalls).map(([name, [x86]]) => [name, x86])),
  },
  aarch64: {
    auditArch: 0xc00000b7,
    socket: 198,
    clone: 220,
    clone3: 435,
    denied: Object.fromEntries(Object.entries(deniedCalls).map(([name, [, arm]]) => [name, arm])),
  },
};

/** The calls a snippet is refused, for docs and tests. */
export const deniedSyscalls: readonly string[] = Object.keys(deniedCalls);

export function hostSeccompArch(): SeccompArch | undefined {
  if (process.arch === "x64") return "x86_64";
  if (process.arch === "arm64") return "aarch64";
  return undefined;
}

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/**
 * The filter for `arch`. Jumps go to labels at the end (allow, refuse, the
 * socket and clone argument checks), so offsets are computed once the
 * program's length is known; each must fit in a byte.
 */
export function snippetFilter(arch: SeccompArch): Uint8Array {
  const t = tables[arch];
  type Target = "allow" | "eperm" | "enosys" | "socket" | "clone" | "kill";
  const body: (Insn | { code: number; k: number; jt?: Target; jf?: Target })[] = [];
  body.push({ code: LD_W_ABS, k: OFFSET_ARCH });
  body.push({ code: JEQ_K, k: t.auditArch, jf: "kill" });
  body.push({ code: LD_W_ABS, k: OFFSET_NR });
  if (t.x32Bit !== undefined) body.push({ code: JGE_K, k: t.x32Bit, jt: "eperm" });
  for (const nr of Object.values(t.denied)) body.push({ code: JEQ_K, k: nr, jt: "eperm" });
  body.push({ code: JEQ_K, k: t.socket, jt: "socket" });
  body.push({ code: JEQ_K, k: t.clone, jt: "clone" });
  // clone3 passes its flags in memory, out of a filter's sight: ENOSYS makes libc fall back to clone.
  body.push({ code: JEQ_K, k: t.clone3, jt: "enosys" });
  const labels: Record<Target, Insn[]> = {
    allow: [{ code: RET_K, jt: 0, jf: 0, k: RET_ALLOW }],
    eperm: [{ code: RET_K, jt: 0, jf: 0, k: retErrno(EPERM) }],
    enosys: [{ code: RET_K, jt: 0, jf: 0, k: retErrno(ENOSYS) }],
    kill: [{ code: RET_K, jt: 0, jf: 0, k: RET_KILL_PROCESS }],
    // socket(domain, ...): only AF_UNIX.
    socket: [
      { code: LD_W_ABS, jt: 0, jf: 0, k: OFFSET_ARG0_LOW },
      { code: JEQ_K, jt: 1, jf: 0, k: AF_UNIX },
      { code: RET_K, jt: 0, jf: 0, k: retErrno(EACCES) },
      { code: RET_K, jt: 0, jf: 0, k: RET_ALLOW },
    ],
    // clone(flags, ...): no new namespaces (x86_64 and aarch64 both pass flags first).
    clone: [
      { code: LD_W_ABS, jt: 0, jf: 0, k: OFFSET_ARG0_LOW },
      { code: JSET_K, jt: 0, jf: 1, k: CLONE_NAMESPACES },
      { code: RET_K, jt: 0, jf: 0, k: retErrno(EPERM) },
      { code: RET_K, jt: 0, jf: 0, k: RET_ALLOW },
    ],
  };
  // The fall-through after the last check is "allow": it comes first after the body.
  const order: Target[] = ["allow", "eperm", "enosys", "kill", "socket", "clone"];
  const start = {} as Record<Target, number>;
  let at = body.length;
  for (const l of order) {
    start[l] = at;
    at += labels[l].length;
  }
  const program: Insn[] = body.map((insn, i) => {
    const jump = (target: Target | number | undefined) => {
      if (target === undefined) return 0;
      if (typeof target === "number") return target;
      const off = start[target] - (i + 1);
      if (off < 0 || off > 255) throw new Error(`seccomp jump to ${target} out of range (${off})`);
      return off;
    };
    return { code: insn.code, k: insn.k >>> 0, jt: jump(insn.jt), jf: jump(insn.jf) };
  });
  for (const l of order) program.push(...labels[l]);
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach((insn, i) => {
    view.setUint16(i * 8, insn.code, true);
    view.setUint8(i * 8 + 2, insn.jt);
    view.setUint8(i * 8 + 3, insn.jf);
    view.setUint32(i * 8 + 4, insn.k >>> 0, true);
  });
  return bytes;
}

/** What the filter decides for one call, read from the program itself (for tests and docs). */
export function evaluateFilter(
  program: Uint8Array,
  call: { nr: number; arch: number; arg0?: number },
): "allow" | "kill" | { errno: number } {
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  let acc = 0;
  for (let pc = 0; pc * 8 < program.length; ) {
    const code = view.getUint16(pc * 8, true);
    const jt = view.getUint8(pc * 8 + 2);
    const jf = view.getUint8(pc * 8 + 3);
    const k = view.getUint32(pc * 8 + 4, true);
    switch (code) {
      case LD_W_ABS:
        acc = k === OFFSET_NR ? call.nr : k === OFFSET_ARCH ? call.arch : k === OFFSET_ARG0_LOW ? (call.arg0 ?? 0) : 0;
        pc++;
        break;
      case JEQ_K:
        pc += 1 + (acc >>> 0 === k ? jt : jf);
        break;
      case JGE_K:
        pc += 1 + (acc >>> 0 >= k ? jt : jf);
        break;
      case JSET_K:
        pc += 1 + ((acc & k) !== 0 ? jt : jf);
        break;
      case RET_K:
        if (k === RET_ALLOW) return "allow";
        if (k === RET_KILL_PROCESS) return "kill";
        return { errno: k & 0xffff };
      default:
        throw new Error(`unknown BPF opcode ${code} at ${pc}`);
    }
  }
  throw new Error("the filter ran off its end");
}

export const auditArch = (arch: SeccompArch) => tables[arch].auditArch;
export function syscallNumber(arch: SeccompArch, name: string): number {
  const t = tables[arch];
  const nr = name === "socket" || name === "clone" || name === "clone3" ? t[name] : t.denied[name];
  if (nr === undefined) throw new Error(`no number for ${name} on ${arch}`);
  return nr;
}
