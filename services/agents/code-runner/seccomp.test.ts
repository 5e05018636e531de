// The snippet filter's decisions, read from its own bytes; the kernel's view
// of the same program is in sandbox.test.ts (calls refused inside a sandbox).
import { describe, expect, test } from "bun:test";
import {
  auditArch,
  deniedSyscalls,
  evaluateFilter,
  type SeccompArch,
  snippetFilter,
  syscallNumber,
} from "./seccomp.ts";

const archs: SeccompArch[] = ["x86_64", "aarch64"];

describe.each(archs)("snippetFilter(%s)", (arch) => {
  const program = snippetFilter(arch);
  const call = (name: string, arg0?: number) =>
    evaluateFilter(program, { nr: syscallNumber(arch, name), arch: auditArch(arch), arg0 });

  test("allows an ordinary call (read is 0 on x86_64, 63 on aarch64)", () => {
    expect(evaluateFilter(program, { nr: arch === "x86_64" ? 0 : 63, arch: auditArch(arch) })).toBe("allow");
  });

  test("refuses every listed call with EPERM", () => {
    for (const name of deniedSyscalls) expect({ name, got: call(name) }).toEqual({ name, got: { errno: 1 } });
  });

  test("sockets: AF_UNIX allowed, AF_INET, AF_INET6, AF_NETLINK and AF_PACKET refused with EACCES", () => {
    expect(call("socket", 1)).toBe("allow");
    for (const family of [2, 10, 16, 17]) expect(call("socket", family)).toEqual({ errno: 13 });
  });

  test("clone: a thread or a process allowed, a new namespace refused; clone3 falls back", () => {
    const CLONE_THREAD_FLAGS = 0x003d0f00;
    expect(call("clone", 0x11)).toBe("allow"); // SIGCHLD: fork
    expect(call("clone", CLONE_THREAD_FLAGS)).toBe("allow");
    for (const ns of [0x10000000, 0x40000000, 0x20000000, 0x00020000, 0x80])
      expect(call("clone", 0x11 | ns)).toEqual({ errno: 1 });
    expect(call("clone3")).toEqual({ errno: 38 });
  });

  test("another architecture's calls kill the process", () => {
    const other = auditArch(arch === "x86_64" ? "aarch64" : "x86_64");
    expect(evaluateFilter(program, { nr: 0, arch: other })).toBe("kill");
    expect(evaluateFilter(program, { nr: 0, arch: 0x40000003 /* i386 */ })).toBe("kill");
  });
});

test("x86_64: the x32 ABI's call numbers are refused, so the table cannot be sidestepped", () => {
  const program = snippetFilter("x86_64");
  expect(evaluateFilter(program, { nr: 0x40000000 | 101, arch: auditArch("x86_64") })).toEqual({ errno: 1 });
});
