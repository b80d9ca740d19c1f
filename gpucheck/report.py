#!/usr/bin/env python3
"""Merges the harness's native.json with torch.json (if any) into one markdown table.

    python3 report.py native.json [torch.json] [--date D] [--command C] > table.md
"""
import json
import sys


def main():
    args = sys.argv[1:]
    extra = {}
    for flag in ("--date", "--command"):
        if flag in args:
            i = args.index(flag)
            extra[flag] = args[i + 1]
            del args[i:i + 2]
    native = json.load(open(args[0]))
    torch_rows = {}
    torch_version = None
    if len(args) > 1:
        t = json.load(open(args[1]))
        torch_version = t.get("torch")
        torch_rows = {(r["op"], r["shape"], r["dtype"]): r["torch_us"] for r in t["rows"]}
    print(f"Device: {native['device']}; {native['iters']} timed calls per op, median; "
          f"PyTorch {torch_version or 'not available'}. Date: {extra.get('--date', '?')}. "
          f"Command: `{extra.get('--command', 'gpucheck/run.sh')}`.\n")
    print("| op | shape | dtype | rel. error vs CPU | matches | CUDA us | PyTorch us | speedup | CPU us |")
    print("|---|---|---|---|---|---:|---:|---:|---:|")
    failed = 0
    for r in native["rows"]:
        tu = torch_rows.get((r["op"], r["shape"], r["dtype"]))
        speed = f"{tu / r['cuda_us']:.1f}x" if tu and r["cuda_us"] > 0 else "-"
        failed += not r["match"]
        print(f"| {r['op']} | {r['shape']} | {r['dtype']} | {r['error']:.1e} | {'yes' if r['match'] else '**NO**'} "
              f"| {r['cuda_us']:.1f} | {f'{tu:.1f}' if tu else '-'} | {speed} | {r['cpu_us']:.0f} |")
    print(f"\n{len(native['rows']) - failed} of {len(native['rows'])} CUDA ops match the CPU ops.")


if __name__ == "__main__":
    main()
