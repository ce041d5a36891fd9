"""Stub libraries that let the PyPI torch==2.11.0 package (a CUDA 13 build) import on a machine
without the CUDA maths libraries, for CPU-only use by the benchmark (scripts/setup-bench.sh).

PyPI has no CPU-only torch wheel; the CUDA build's libtorch_cuda.so and libtorch_python.so link
cuBLAS, cuDNN, cuFFT, cuSPARSE, NCCL, ... (about 2 GB of wheels) although CPU tensors never call
them. For each such library that the dynamic loader cannot find, this writes a small shared object
with the same soname and version node that defines every symbol torch imports from it as a
function returning 1 (an error status in each of those APIs), so the loader is satisfied and any
accidental CUDA call fails instead of crashing. The CUDA runtime itself (cudart) is the real one:
it finds no GPU, so torch.cuda.is_available() is False.

    python3 scripts/torch_cpu_stubs.py TORCH_LIB_DIR EXTRA_LIB_DIRS(:-separated) OUT_DIR

Needs nm (binutils), ldd and cc. Deterministic: the same torch gives the same stubs.
"""

import os
import re
import subprocess
import sys


def run(*cmd, env=None):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout


def main():
    torch_lib, extra, out = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join([torch_lib, extra, out])
    users = [os.path.join(torch_lib, f) for f in sorted(os.listdir(torch_lib)) if f.endswith(".so")]
    missing, found = set(), set()
    for u in users:
        for line in run("ldd", u, env=env).splitlines():
            m = re.match(r"\s*(\S+) => (not found|(\S+))", line)
            if not m:
                continue
            if m.group(2) == "not found":
                missing.add(m.group(1))
            else:
                found.add(m.group(3))
    if not missing:
        print("torch_cpu_stubs: nothing missing", file=sys.stderr)
        return
    defined = set()
    for lib in found | set(users):
        for line in run("nm", "-D", "--defined-only", lib).splitlines():
            parts = line.split()
            if len(parts) == 3:
                defined.add(parts[2].split("@")[0])
    per_lib = {m: set() for m in missing}
    # Version node -> the library that must define it (from each user's .gnu.version_r).
    node_file, nodes = {}, {m: set() for m in missing}
    for u in users:
        current = None
        for line in run("readelf", "-V", "-W", u).splitlines():
            m = re.search(r"File: (\S+)", line)
            if m:
                current = m.group(1)
                continue
            m = re.search(r"Name: (\S+)", line)
            if m and current in per_lib:
                node_file[m.group(1)] = current
                nodes[current].add(m.group(1))
    loose = set()
    for u in users:
        for line in run("nm", "-D", "--undefined-only", u).splitlines():
            parts = line.split()
            if len(parts) != 2 or parts[0] != "U":
                continue
            name, _, ver = parts[1].partition("@")
            ver = ver.lstrip("@")
            if ver in node_file:
                per_lib[node_file[ver]].add((name, ver))
            elif not ver and name not in defined and not name.startswith(("Py", "_Py")):
                loose.add((name, None))
    # Unversioned imports resolve against any loaded object: give them to one stub.
    first = sorted(missing)[0]
    per_lib[first] |= loose
    for soname in sorted(missing):
        syms = sorted(per_lib[soname], key=lambda t: (t[0], t[1] or ""))
        names = sorted({n for n, _ in syms})
        asm = os.path.join(out, soname + ".s")
        with open(asm, "w") as f:
            f.write(".text\n")
            for s in names:
                f.write(f'.globl "{s}"\n.type "{s}",@function\n"{s}":\n  mov $1, %eax\n  ret\n')
        vs = os.path.join(out, soname + ".map")
        # Each version node torch asks this library for, holding the symbols it wants in it;
        # the unversioned rest in the first (default) node.
        with open(vs, "w") as f:
            own = sorted(nodes[soname]) or [soname]
            for i, node in enumerate(own):
                wanted = sorted({n for n, v in syms if v == node or (i == 0 and v is None)})
                body = " ".join(f'"{n}";' for n in wanted)
                local = " local: *;" if i == len(own) - 1 else ""
                glob = f" global: {body}" if body else ""
                f.write(f"{node} {{{glob}{local} }};\n")
        run("cc", "-shared", "-nostdlib", "-o", os.path.join(out, soname), f"-Wl,-soname,{soname}",
            f"-Wl,--version-script,{vs}", asm)
        os.remove(asm)
        os.remove(vs)
        print(f"torch_cpu_stubs: {soname}: {len(syms)} symbols", file=sys.stderr)


if __name__ == "__main__":
    main()
